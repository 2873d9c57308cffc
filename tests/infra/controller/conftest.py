"""The `preflight` fixture of the tests/infra/controller/test_*_preflight.py files.

Molecule's testinfra verifier also loads this file (with
test_gatehouse_service.py and test_mysql_replication.py); it only adds a
fixture those files do not use.
"""

import os

import preflight as harness
import pytest


@pytest.fixture(scope="session")
def preflight(request, tmp_path_factory):
    """Returns run(site) -> Run, the outcome of site.yml's preflight on `site`.

    On first use it starts the runs of every Site of the selected tests'
    modules (module-level, or in a module-level dict), PREFLIGHT_JOBS
    (default 4) at a time, so they are ready, or running, when their tests
    ask. The biggest inventories (the longest runs) start first.
    """
    runner = harness.Runner(tmp_path_factory.mktemp("preflight"), int(os.environ.get("PREFLIGHT_JOBS", "4")))
    modules = {item.module for item in request.session.items if "preflight" in getattr(item, "fixturenames", ())}
    sites = [
        site
        for module in sorted(modules, key=lambda m: m.__name__)
        for value in vars(module).values()
        for site in (value.values() if isinstance(value, dict) else [value])
        if isinstance(site, harness.Site)
    ]
    for site in sorted(sites, key=lambda s: -sum(len(hosts) for hosts in s.groups.values())):
        runner.submit(site)
    yield runner.run
    runner.close()
