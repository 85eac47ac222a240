"""Role rules: which role implies which (Keystone's role inference rules) and where a domain-specific role may go.

One mechanism for every implication: the built-in ``admin`` > ``member`` > ``reader`` are rows of ``implied_roles``
written by ``stratus-manage bootstrap``, exactly like rules made through ``PUT /v3/roles/{prior}/implies/{implied}``;
``identity.tokens.role_graph`` expands them wherever effective roles are computed (tokens, hence policy checks, and
``role_assignments?effective``). A rule is an identity row, so writing or deleting one bumps the identity generation
and no worker keeps a cached token's roles computed under the old rules (``identity.generation``).

Keystone's refusals, all 403 as its ``InvalidImpliedRole``: a rule implying a prohibited role (``admin``: nobody may
come to hold it by inference, Keystone's ``[assignment] prohibited_implied_role``), and a global role implying a
domain-specific one (a domain's role would then reach other domains). Stratus also refuses a rule that closes a
cycle (Keystone stores it and stops expanding where it has been): a role implying itself means nothing and would
make ``admin``'s closure depend on rule order.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from common.exceptions import BadRequest, Conflict, Forbidden, NotFound
from identity.lookups import get_or_404
from identity.models import Domain, ImpliedRole, Project, Role

PROHIBITED_IMPLIED_ROLES = frozenset({"admin"})


def _implied_closure(session: Session, role_id: str) -> set[str]:
    """Every role ``role_id`` implies through the stored rules, transitively."""
    edges = session.execute(select(ImpliedRole.prior_role_id, ImpliedRole.implied_role_id)).all()
    found: set[str] = set()
    frontier = {role_id}
    while frontier:
        frontier = {implied for prior, implied in edges if prior in frontier} - found
        found |= frontier
    return found


def get_rule(session: Session, prior_role_id: str, implied_role_id: str) -> tuple[Role, Role]:
    """The two roles of an existing rule; 404 for a missing role or rule (Keystone's ``ImpliedRoleNotFound``)."""
    prior = get_or_404(session, Role, prior_role_id)
    implied = get_or_404(session, Role, implied_role_id)
    if session.get(ImpliedRole, (prior.id, implied.id)) is None:
        raise NotFound(f"{prior.id} does not imply {implied.id}.")
    return prior, implied


def create_rule(session: Session, prior_role_id: str, implied_role_id: str) -> tuple[Role, Role]:
    """Store "``prior`` implies ``implied``" after Keystone's checks (and the cycle check); 409 if it exists."""
    prior = get_or_404(session, Role, prior_role_id)
    implied = get_or_404(session, Role, implied_role_id)
    if implied.name in PROHIBITED_IMPLIED_ROLES and implied.domain_id is None:
        raise Forbidden(f"{implied.id} cannot be an implied roles.")
    if prior.domain_id is None and implied.domain_id is not None:
        raise Forbidden("Global role cannot imply a domain-specific role")
    if session.get(ImpliedRole, (prior.id, implied.id)) is not None:
        raise Conflict(kind="implied_role", reason=f"{prior.id} already implies {implied.id}")
    if prior.id == implied.id or prior.id in _implied_closure(session, implied.id):
        raise Forbidden(f"{prior.id} cannot imply {implied.id}: {implied.id} already implies it (a cycle).")
    session.add(ImpliedRole(prior_role_id=prior.id, implied_role_id=implied.id))
    try:
        session.flush()
    except IntegrityError:  # the same rule written at the same moment by another request (PostgreSQL)
        raise Conflict(kind="implied_role", reason=f"{prior.id} already implies {implied.id}") from None
    return prior, implied


def delete_rule(session: Session, prior_role_id: str, implied_role_id: str) -> None:
    get_rule(session, prior_role_id, implied_role_id)
    session.delete(session.get(ImpliedRole, (prior_role_id, implied_role_id)))


def implied_by(session: Session, prior_role_id: str) -> list[Role]:
    """The roles one role implies directly (the rules as stored, not their closure), by name."""
    query = (
        select(Role)
        .join(ImpliedRole, ImpliedRole.implied_role_id == Role.id)
        .where(ImpliedRole.prior_role_id == prior_role_id)
        .order_by(Role.name)
    )
    return list(session.scalars(query))


def all_rules(session: Session) -> list[tuple[Role, list[Role]]]:
    """Every prior role with the roles it implies directly, as ``GET /v3/role_inferences`` lists them."""
    roles = {r.id: r for r in session.scalars(select(Role))}
    rules: dict[str, list[Role]] = {}
    for prior_id, implied_id in session.execute(select(ImpliedRole.prior_role_id, ImpliedRole.implied_role_id)):
        rules.setdefault(prior_id, []).append(roles[implied_id])
    ordered = sorted(rules.items(), key=lambda item: roles[item[0]].name)
    return [(roles[prior_id], sorted(implied, key=lambda r: r.name)) for prior_id, implied in ordered]


def check_domain_role_target(session: Session, role: Role, target_type: str, target_id: str) -> None:
    """A domain-specific role is granted only within its domain (Keystone's ``DomainSpecificRoleMismatch``, 403),
    and never on the system (a 400, as Keystone's validation of a system grant)."""
    if role.domain_id is None:
        return
    if target_type == "system":
        raise BadRequest(f"Role {role.id} is a domain-specific role: it cannot be granted on the system.")
    if target_type == "domain":
        domain_id = target_id
    else:
        project = session.get(Project, target_id)
        domain_id = project.domain_id if project is not None else None
    if domain_id != role.domain_id:
        raise Forbidden(
            f"{target_type.capitalize()} {target_id} must be in the same domain as the role {role.id} being assigned."
        )


def check_role_domain(session: Session, domain_id: str | None) -> None:
    """The domain of a new domain-specific role must exist (a 404 names it)."""
    if domain_id is not None:
        get_or_404(session, Domain, domain_id)
