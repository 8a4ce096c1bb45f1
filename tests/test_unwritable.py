"""An unwritable results folder: the run stops with an error naming the path, and what the folder
already holds is left as it was. (As root, permissions do not bind: the run drops to nobody.)"""

import subprocess

from conftest import as_unprivileged, default_config, snakemake_command, write_config


def test_unwritable_results_folder_is_named_and_left_intact(world_folder):
    workdir = world_folder / "run"
    write_config(workdir, default_config())
    workdir.chmod(0o777)
    (workdir / "config.yaml").chmod(0o644)
    results = workdir / "results"
    results.mkdir()
    earlier = results / "earlier.csv"
    earlier.write_text("written by an earlier run\n")
    results.chmod(0o555)

    command, env = snakemake_command(workdir, "--cores", "1", "--", "results/data/demo/relations.csv")
    env = {**env, "HOME": str(world_folder), "XDG_CACHE_HOME": str(world_folder / "cache")}
    done = subprocess.run(as_unprivileged(command), capture_output=True, text=True, env=env, check=False,
                          cwd=world_folder)
    message = done.stdout + done.stderr

    assert done.returncode != 0
    assert "Permission denied" in message and "results/data" in message, message[-3000:]
    assert earlier.read_text() == "written by an earlier run\n"
    assert sorted(p.name for p in results.iterdir()) == ["earlier.csv"]
