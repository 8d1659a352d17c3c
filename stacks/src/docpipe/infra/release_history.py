"""Which versions of a function were live, kept on its ``live`` alias.

``rollout rollback`` needs "the version before the current release". Neither Lambda nor
CodeDeploy answers that reliably: an alias has no history, and a deployment's AppSpec
text is not a dependable part of CodeDeploy's GetDeployment answer. So the rollout
command keeps the history itself, in the alias's description (256 characters, changed
only by the rollout command: Pulumi ignores it), and reconciles it against where the
alias actually points before every use:

- ``live``: versions that served all traffic, oldest first (the last is the current one);
- ``pending``: the version a deployment was started for, until its outcome is known;
- ``bad``: versions that were rolled back (by CodeDeploy on an alarm, or by ``rollback``).

A pending version the alias now serves succeeded; one it does not serve was rolled back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

__all__ = ["DESCRIPTION_LIMIT", "ReleaseHistory"]

#: Lambda's limit on an alias description.
DESCRIPTION_LIMIT = 256
_KEEP_LIVE = 12
_KEEP_BAD = 8


@dataclass
class ReleaseHistory:
    live: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    pending: str | None = None

    @classmethod
    def parse(cls, description: str | None) -> ReleaseHistory:
        """The history in an alias description; empty for any other text."""
        try:
            raw = json.loads(description or "")
            return cls(
                live=[str(v) for v in raw["live"]],
                bad=[str(v) for v in raw["bad"]],
                pending=None if raw.get("pending") is None else str(raw["pending"]),
            )
        except (ValueError, KeyError, TypeError):
            return cls()

    def render(self) -> str:
        text = json.dumps(
            {
                "live": self.live[-_KEEP_LIVE:],
                "bad": self.bad[-_KEEP_BAD:],
                "pending": self.pending,
            },
            separators=(",", ":"),
        )
        assert len(text) <= DESCRIPTION_LIMIT, text
        return text

    def reconcile(self, serving: str) -> None:
        """Bring the history in line with the version the alias serves now."""
        if self.pending is not None:
            if self.pending == serving:
                self._went_live(serving)
            else:
                self.rolled_back(self.pending)
            self.pending = None
        if not self.live or self.live[-1] != serving:
            self._went_live(serving)  # first use, or the alias was moved by hand

    def started(self, version: str) -> None:
        self.pending = version

    def rolled_back(self, version: str) -> None:
        self.live = [v for v in self.live if v != version]
        self.bad = [*(v for v in self.bad if v != version), version]

    def previous_good(self, serving: str) -> str | None:
        """The release before ``serving``: the newest earlier live version not rolled back."""
        earlier = [v for v in self.live if v != serving and v not in self.bad]
        return earlier[-1] if earlier else None

    def _went_live(self, version: str) -> None:
        self.live = [*(v for v in self.live if v != version), version]
        self.bad = [v for v in self.bad if v != version]
