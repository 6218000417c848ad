"""``perfgate completion``: a real bash loads the script and completes commands and flags."""

import subprocess

from tests.support import run_cli


def test_bash_completes_the_commands_and_a_commands_flags(tmp_path):
    result = run_cli("completion", "bash", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    script = tmp_path / "perfgate.bash"
    script.write_text(result.stdout)
    probe = (
        f"source {script}\n"
        'COMP_WORDS=(perfgate r); COMP_CWORD=1; _shtab_perfgate; echo "${COMPREPLY[@]}"\n'
        'COMP_WORDS=(perfgate run --can); COMP_CWORD=2; _shtab_perfgate; echo "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    commands, flags = out.stdout.splitlines()[-2:]
    assert {"run", "runs", "report"} <= set(commands.split()), out.stdout + out.stderr
    assert "--candidate" in flags.split()


def test_zsh_and_tcsh_scripts_are_written(tmp_path):
    for shell in ("zsh", "tcsh"):
        result = run_cli("completion", shell, cwd=tmp_path)
        assert result.returncode == 0 and "perfgate" in result.stdout
