"""The hostile suite (`nox -s attack`): attacks against live servers, attack -> held."""
