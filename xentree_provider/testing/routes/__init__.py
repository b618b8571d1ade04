"""The sandbox's routes, one ``APIRouter`` per area of the Xentree API (plus the ``/__sandbox`` admin API)."""
