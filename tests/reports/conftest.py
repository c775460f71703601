import pytest

from report_factory import make_report


@pytest.fixture
def report():
    return make_report()
