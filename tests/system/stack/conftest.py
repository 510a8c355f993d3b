from tests.system.stack.fixture import production_stack  # noqa: F401 (a fixture)
