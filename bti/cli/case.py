"""The case group: a case that follows the family to another municipality, as a signed transfer
bundle (``bti.services.privacy.transfer``; keys in docs/deployment.md)."""

from __future__ import annotations

from pathlib import Path

import click

from bti.cli.common import open_engine
from bti.db.engine import make_session_factory


@click.group("case", help="Cases between installations: the signed transfer bundle of a case "
             "whose family moved to another municipality. Runs as the system: audit rows "
             "have details {\"via\": \"cli\"}.")
def case() -> None:
    pass


def _settings():
    from bti.config import ConfigError
    from bti.config import TransferSettings

    try:
        return TransferSettings.from_env()
    except ConfigError as err:
        raise click.ClickException(str(err)) from None


@case.command("transfer-keygen", help="Print a new Ed25519 key pair: the private key for "
              "BTI_TRANSFER_SIGNING_KEY (keep it secret, outside the repository) and the "
              "public key the receiving installations list in BTI_TRANSFER_TRUSTED_KEYS.")
def transfer_keygen() -> None:
    from bti.services.privacy.transfer import generate_key

    private, public = generate_key()
    click.echo(f"BTI_TRANSFER_SIGNING_KEY={private}")
    click.echo(f"public key: {public}")


@case.command("transfer-export", help="Write the signed transfer bundle of a case closed as "
              "transferred to another municipality. Keeps the case's tombstone "
              "(case_transfer) and audits case.transfer_exported.")
@click.option("--case", "case_id", type=int, required=True)
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--to-installation", "to_installation", required=True,
              help="The receiving installation's BTI_INSTALLATION_ID.")
@click.option("--to-municipality", "to_municipality", required=True,
              help="The receiving municipality's slug there.")
def transfer_export(case_id: int, out: Path, to_installation: str, to_municipality: str
                    ) -> None:
    from bti.services.context import utcnow
    from bti.services.privacy.transfer import TransferRefused
    from bti.services.privacy.transfer import export_bundle

    settings = _settings()
    with make_session_factory(open_engine()).begin() as session:
        try:
            data = export_bundle(session, case_id, settings, utcnow(),
                                 to_installation=to_installation,
                                 to_municipality=to_municipality)
        except TransferRefused as err:
            raise click.ClickException(str(err)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)  # written once the tombstone and audit row are committed
    click.echo(f"wrote {out} ({len(data)} bytes)")


@case.command("transfer-import", help="Verify a transfer bundle (trusted sender, signature, "
              "the stafettlogg chain) and create the case in the receiving municipality, with "
              "RECEIVER (a case worker there) as stafettholder. The bundle must be addressed "
              "to this installation (BTI_INSTALLATION_ID) and the municipality. A bundle that "
              "fails any check is refused and nothing is written.")
@click.argument("bundle", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--municipality", "slug", required=True, help="The receiving municipality.")
@click.option("--receiver", "receiver", required=True,
              help="User name of the receiving stafettholder (their unit gets the case).")
def transfer_import(bundle: Path, slug: str, receiver: str) -> None:
    from bti.cli.common import load_registry
    from bti.services.context import Ctx
    from bti.services.context import utcnow
    from bti.services.privacy.transfer import TransferRefused
    from bti.services.privacy.transfer import import_bundle

    settings = _settings()
    data = bundle.read_bytes()
    engine = open_engine()
    workflows = load_registry()
    with make_session_factory(engine).begin() as session:
        workflows.sync(session)
        ctx = Ctx.system(session, workflows=workflows, now=utcnow)
        try:
            case_ = import_bundle(ctx, data, settings, municipality_slug=slug,
                                  receiver_username=receiver)
        except TransferRefused as err:
            raise click.ClickException(f"refused, nothing imported: {err}") from None
        case_id = case_.id
    click.echo(f"imported as case {case_id} in {slug}")
