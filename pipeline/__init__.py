"""Stylesnake: semantic-segmentation-guided neural style transfer.

One module per stage: ``io`` (images in and out), ``record`` (what every output says about how it
was made), ``masks`` (painted masks → exact label maps), ``features`` (the VGG encoder and its
weights), ``guides`` (region guides per layer), ``guidance`` (regions matched, the guided style
loss), ``losses`` (content, Gram and guided Gram style, total variation), ``optim`` (the
optimisation loop, L-BFGS), ``gatys`` (the transfers of Gatys et al. 2015/2016), ``targets`` (a
style's Grams, computed once), ``color`` (colour control), ``fast`` (Johnson et al.'s fast style),
``gallery`` (panels, loss curves, contact sheet), ``workflow`` (the Snakefile's decisions), ``cli``
(the ``stylesnake`` command), ``web`` (the web app). Helpers: ``device``, ``samples`` (demo
images), ``synthetic`` (painted masks and guided scenes with ground truth).
"""

__version__ = "0.1.0"


def code_version() -> dict[str, str | bool | None]:
    """This package's version and, when it runs from a git checkout, the commit (and whether the
    working tree differs from it): what an output's metadata records as the code that made it."""
    import functools
    import subprocess
    from pathlib import Path

    @functools.cache
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".")) if commit else None
    return {"version": __version__, "git_commit": commit, "git_dirty": dirty}
