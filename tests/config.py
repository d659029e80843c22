"""Where the test services are; the Makefile and CI may point elsewhere."""

import os

TEST_DATABASE_URL = os.environ.get(
    "FLEETBED_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/fleetbed_test"
)
TEST_REDIS_URL = os.environ.get("FLEETBED_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
MDS_ACCEPT = "application/vnd.mds+json;version=2.0"
