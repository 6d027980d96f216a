"""Print jobs in memory: the states, the staged blocks and the committed PDFs, as a Blob
container keeps them (a block staged again replaces the one of the same part; only a commit
makes the PDF readable)."""

from __future__ import annotations

from datetime import datetime

from shared.backoffice.print_jobs import PrintJob


class MemoryPrintJobs:
    def __init__(self) -> None:
        self.jobs: dict[str, str] = {}  # stored as the adapter stores them: JSON
        self.staged: dict[str, dict[int, bytes]] = {}
        self.pdfs: dict[str, bytes] = {}
        self.filenames: dict[str, str] = {}
        self.largest_block = 0
        self.fail_stage_at: int | None = None
        """Raise at staging this part once (a crash mid-render)."""

    async def save(self, job: PrintJob) -> None:
        self.jobs[job.id] = job.model_dump_json(by_alias=True)

    async def load(self, job_id: str) -> PrintJob | None:
        stored = self.jobs.get(job_id)
        return None if stored is None else PrintJob.model_validate_json(stored)

    async def stage(self, job_id: str, part: int, data: bytes) -> None:
        if part == self.fail_stage_at:
            self.fail_stage_at = None
            raise ConnectionResetError("the worker died here")
        self.staged.setdefault(job_id, {})[part] = data
        self.largest_block = max(self.largest_block, len(data))

    async def commit(self, job_id: str, parts: int, filename: str) -> None:
        blocks = self.staged[job_id]
        self.pdfs[job_id] = b"".join(blocks[n] for n in range(parts))
        self.filenames[job_id] = filename

    async def read_url(self, job_id: str, *, now: datetime, minutes: int) -> str:
        return f"memory://print/{job_id}.pdf?until={now.isoformat()}+{minutes}m"
