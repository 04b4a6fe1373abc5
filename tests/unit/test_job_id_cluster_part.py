"""A pasted `id;cluster` (sbatch --parsable on a multi-cluster site) is acted on only by the cluster it names:
the same number on another cluster may be somebody else's job (a newcomer's trial cancelled '1;rm' as job 1)."""

from __future__ import annotations

import pytest

from hpcbridge.config import ClusterConfig, Settings
from hpcbridge.errors import InvalidParameter
from hpcbridge.services.cluster import Cluster
from hpcbridge.services.registry import Registry


def cluster(name: str, scheduler: str = "slurm") -> Cluster:
    config = ClusterConfig.model_validate({"name": name, "transport": "local", "scheduler": scheduler})
    return Registry(Settings(clusters={name: config}, default_cluster=name)).get(name)


def test_the_named_cluster_takes_its_own_id() -> None:
    assert cluster("gpu1").job_id("4100;gpu1") == "4100"
    assert cluster("gpu1").job_id("4100_7") == "4100_7"


@pytest.mark.parametrize("pasted", ["4100;gpu2", "1;rm"])
def test_another_clusters_id_is_refused_with_what_to_pass(pasted: str) -> None:
    with pytest.raises(InvalidParameter, match=r"job_id.*is a job of cluster .*not of 'gpu1'.*job id alone"):
        cluster("gpu1").job_id(pasted)


def test_pbs_refuses_it_too() -> None:
    with pytest.raises(InvalidParameter, match="job_id"):
        cluster("pbs1", "pbs").job_id("12.server;other")
