"""The fuzz suite's Hypothesis profile: whole loads, CLI runs or link sessions per case."""
from hypothesis import HealthCheck, settings

# No per-case deadline (the tests bound their own time), reproducible cases, no example database in
# the checkout. Each test runs a few dozen cases by default and 1 000 under `-m slow`.
settings.register_profile("fuzz", deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
