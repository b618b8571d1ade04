"""Example DAGs of the Xentree provider (also the DAGs folder of the tests and the demo)."""
