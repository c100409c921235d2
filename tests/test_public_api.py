import lifecycle


def test_every_export_resolves():
    for name in lifecycle.__all__:
        assert getattr(lifecycle, name) is not None, name


def test_unknown_attribute():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'stop'"):
        lifecycle.stop  # noqa: B018
