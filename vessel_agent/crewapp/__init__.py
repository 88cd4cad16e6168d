"""The crew app: a browser page served by the vessel agent (docs/crew-app.md).

``server`` (stdlib HTTP server, routes, headers), ``service`` (limits, tokens, the Device calls),
``intake`` (the intake key and the sealed requests), ``sizes`` (the satellite-message meter's
table); ``static/`` holds the page and its built JS/CSS (``web/`` is their source, built by
esbuild from a lock file, so the box needs no Node.js).
"""
