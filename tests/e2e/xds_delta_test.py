"""xDS end to end, incremental (DeltaAggregatedResources): the scenario of
lib/xds_scenario.py (listeners from xDS alone, route change on a kept-alive
connection, clusters and endpoints changed under load, NACKs, control plane
restart, listener removal)."""

from xds_scenario import run

if __name__ == "__main__":
    run("delta")
