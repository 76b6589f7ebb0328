"""``imagepipe purge [--dry-run] [--json]``: apply retention now, or show what it would delete."""

import json

from imagepipe.retention import KINDS, purge, retention_days
from models import bind_database
from models.image import timestamp

from .table import render_table

NAME = "purge"
HELP = "delete what retention keeps no longer (IMAGEPIPE_RETAIN_*_DAYS); --dry-run shows it"
TIME_FORMAT = "%Y-%m-%d %H:%M"


def add_arguments(parser):
    parser.add_argument("--dry-run", action="store_true", help="only count what would go, per kind; delete nothing")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")


def run(args, settings):
    days = retention_days(settings)
    report = []
    if days:
        bind_database(settings.database_url)
        report = purge(days, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report_json(report, dry_run=args.dry_run), indent=2))
    elif not days:
        print(f"retention is off: set {', '.join(f'IMAGEPIPE_{kind.setting.upper()}' for kind in KINDS)}")
    else:
        verb = "would delete" if args.dry_run else "deleted"
        rows = [[p.kind, f"{p.days:g} days", p.count, _when(p.oldest), _when(p.newest)] for p in report]
        print(render_table(["kind", "kept", verb, "oldest (UTC)", "newest (UTC)"], rows))


def report_json(report, *, dry_run):
    """What ``--json`` prints and ``POST /purge`` answers: the counts, oldest and newest per kind."""
    rows = [{**vars(p), "oldest": timestamp(p.oldest), "newest": timestamp(p.newest)} for p in report]
    return {"dry_run": dry_run, "kinds": rows}


def _when(moment):
    return "-" if moment is None else moment.strftime(TIME_FORMAT)
