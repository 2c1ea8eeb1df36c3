import tomllib

from builder.pipeline.estimates import job_seconds, longest_chains, reference_times, render


def test_the_machine_s_own_time_beats_another_platform_s_and_the_reference() -> None:
    measured = {("numpy", "p1"): 900.0, ("numpy", "p2"): 1200.0, ("six", "p1"): 4.0}
    reference = {"numpy": 1000.0, "pandas": 1800.0}
    assert job_seconds("numpy", "p1", measured, reference) == 900.0
    assert job_seconds("numpy", "p3", measured, reference) == 1200.0  # the longest elsewhere
    assert job_seconds("pandas", "p1", measured, reference) == 1800.0
    assert job_seconds("idna", "p1", measured, reference) == 0.0


def test_a_job_s_chain_holds_the_longest_chain_of_what_waits_for_its_wheel() -> None:
    needs = {
        "setuptools": frozenset(),
        "cython": frozenset({"setuptools"}),
        "numpy": frozenset({"cython"}),
        "pandas": frozenset({"numpy", "cython"}),
        "six": frozenset({"setuptools"}),
        "pydantic-core": frozenset(),
    }
    seconds = {"setuptools": 10.0, "cython": 200.0, "numpy": 1000.0, "pandas": 1800.0,
               "six": 5.0, "pydantic-core": 400.0}  # fmt: skip
    chains = longest_chains(needs, seconds)
    assert chains["pandas"] == 1800.0
    assert chains["numpy"] == 2800.0  # numpy then pandas
    assert chains["cython"] == 3000.0
    assert chains["setuptools"] == 3010.0
    assert chains["six"] == 5.0
    # pydantic-core is longer than numpy alone, yet numpy starts first: pandas waits on it.
    assert chains["numpy"] > chains["pydantic-core"] > seconds["numpy"] / 3


def test_times_are_written_longest_first_and_read_back() -> None:
    measured = {("numpy", "p1"): 1044.04, ("six", "p1"): 3.0, ("numpy", "p2"): 1.0,
                ("cryptography", "p0"): 500.0, ("cryptography", "p9"): 550.0}  # fmt: skip
    text = render("p1", measured)
    document = tomllib.loads(text)
    assert document["platform"] == "p1"
    # cryptography was built only on its abi3 base platforms: the longest of those.
    assert list(document["seconds"].items()) == [
        ("numpy", 1044.0), ("cryptography", 550.0), ("six", 3.0),
    ]  # fmt: skip


def test_the_committed_reference_times_load() -> None:
    platform, seconds = reference_times()
    assert platform.startswith("linux-x86_64-")
    assert seconds["numpy"] > seconds.get("six", 0.0)
