"""The demo on the embedded default: SQLite databases with generated ERP data, the stand-in WhatsApp
service, a sample upload (``scripts/demo.sh`` drives it; ``python -m include.demo`` its steps)."""
