"""Message catalogs of the crew terminal, one TOML file per language (see vessel_agent.i18n)."""
