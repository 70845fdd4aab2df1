"""The AWS keys the tests sign with: the test settings put them in the environment, and the
scripted and local endpoints accept them. The secret must never show up in a log line."""

TEST_ACCESS_KEY = "AKIATESTKEY000000000"
TEST_SECRET = "test-secret-never-logged-0123456789"
