"""Stream ownership across the nodes of a cluster (issue 12, ADR 0140)."""
