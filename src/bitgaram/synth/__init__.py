"""Synthetic parks of N tenants scaled from measured profiles, for tests and benchmarks.

- :mod:`~bitgaram.synth.profiles`: dimensionless shapes from the sample park;
- :mod:`~bitgaram.synth.park`: tenant parameters and vectorised generation;
- :mod:`~bitgaram.synth.write`: site TOML + Parquet readings, or a store.
"""

from bitgaram.synth.park import SynthSpec, TenantPlan, generate_chunk, plan_tenants, synth_site
from bitgaram.synth.profiles import BaseProfiles, base_profiles, read_base_profiles
from bitgaram.synth.write import SynthOutput, site_toml, write_files, write_store

__all__ = [
    "BaseProfiles",
    "SynthOutput",
    "SynthSpec",
    "TenantPlan",
    "base_profiles",
    "generate_chunk",
    "plan_tenants",
    "read_base_profiles",
    "site_toml",
    "synth_site",
    "write_files",
    "write_store",
]
