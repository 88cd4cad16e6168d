"""The case connectors and their settings, for ``flip gateway serve --help`` (a module of
its own: the CLI shows it without importing the settings machinery)."""

# docs/cases.md explains each; shore_gateway/cases/config.py reads them.
HELP = """\
case connectors (environment, prefix FLIP_CASES_):
  FLIP_CASES_CONNECTORS            mqtt, primero or both, comma-separated; "" = desk only
                                   (unset: mqtt when --mqtt is given, else none)
  mqtt     new cases on {prefix}/cases/new (QoS 1, idempotency key = grievance id), changes
           on {prefix}/cases/REF/updates; status in from {prefix}/cases/+/status
    FLIP_CASES_MQTT_URL            broker (default: --mqtt)
    FLIP_CASES_MQTT_PREFIX         topic prefix (default flip/v1)
    FLIP_CASES_MQTT_SHARE_TEXT     true: grievance text in MQTT messages (default false)
  primero  cases as Primero v2 incidents; webhook back at POST /hooks/primero
    FLIP_CASES_PRIMERO_URL, FLIP_CASES_PRIMERO_USER, FLIP_CASES_PRIMERO_PASSWORD
    FLIP_CASES_PRIMERO_SHARE_TEXT  narrative to Primero (default true)
    FLIP_CASES_PRIMERO_WEBHOOK_SECRET  bearer secret of /hooks/primero (unset: 404)
  all      FLIP_CASES_DISPATCH_INTERVAL_S (2), FLIP_CASES_MAX_BACKOFF_S (300),
           FLIP_CASES_JOIN_WINDOW_DAYS (30)
"""
