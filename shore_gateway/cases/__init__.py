"""Case management: the built-in case desk, its connectors (MQTT, Primero v2) and their outbox.

``desk`` holds the hooks the pipeline calls inside its transaction; ``api`` the REST routes.
"""
