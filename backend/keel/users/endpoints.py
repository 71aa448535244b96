from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response, status

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.core.errors import problem_docs
from keel.core.idempotency import Idempotent
from keel.core.openapi import list_example, page_example
from keel.core.pagination import Page, PageQuery
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.users import repository, service
from keel.users.schemas import (
    InvitationCreate,
    InvitationOut,
    MemberOut,
    MemberUpdate,
    ProfileOut,
    ProfileUpdate,
    SecurityEventOut,
)

MembersRead = Annotated[Principal, allowed(Permission.MEMBERS_READ)]
MembersManage = Annotated[Principal, allowed(Permission.MEMBERS_MANAGE)]
OwnProfile = Annotated[Principal, allowed(Permission.PROFILE_OWN)]

invitations = APIRouter(prefix="/invitations", tags=["members"], route_class=UnitOfWorkRoute)
members = APIRouter(prefix="/members", tags=["members"], route_class=UnitOfWorkRoute)
me = APIRouter(prefix="/me", tags=["profile"], route_class=UnitOfWorkRoute)
UNKNOWN_ROLE = {422: "The role is neither built in nor one of the organisation's own"}
NO_USER = {404: "The caller's user account no longer exists"}


@invitations.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationOut,
    responses=problem_docs(
        {
            409: "The person is already a member",
            422: "The address is outside the organisation's invitation domains",
        },
        UNKNOWN_ROLE,
    ),
)
async def invite_member(
    body: InvitationCreate, principal: MembersManage, _: Idempotent, uow: UoW
) -> InvitationOut:
    """E-mail an invitation to join the organisation with a role. The link works once, for 7 days."""
    invitation = await service.invite(uow, body.email, body.role, invited_by=principal.actor)
    return InvitationOut.model_validate(invitation)


@invitations.get("", response_model=Page[InvitationOut], responses=page_example(InvitationOut))
async def list_invitations(principal: MembersRead, uow: UoW, page: PageQuery) -> Page[InvitationOut]:
    rows, next_cursor = await repository.invitations_page(uow.session, page)
    return Page(items=[InvitationOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@invitations.delete("/{invitation_id}", response_model=InvitationOut)
async def revoke_invitation(invitation_id: UUID, principal: MembersManage, uow: UoW) -> InvitationOut:
    """Withdraw an invitation; its link stops working."""
    return InvitationOut.model_validate(await service.revoke_invitation(uow, invitation_id))


@members.get("", response_model=list[MemberOut], responses=list_example(MemberOut))
async def list_members(principal: MembersRead, uow: UoW) -> list[MemberOut]:
    return await service.list_members(uow)


@members.patch(
    "/{user_id}",
    response_model=MemberOut,
    responses=problem_docs({409: "The member is the organisation's last Org Admin"}, UNKNOWN_ROLE),
)
async def change_member_role(
    user_id: UUID, body: MemberUpdate, principal: MembersManage, uow: UoW
) -> MemberOut:
    """Change a member's role. Their current access tokens stop working; the next refresh carries it."""
    return await service.change_role(uow, user_id, body.role)


@members.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_docs(
        {
            409: "The member is the last Org Admin, owns or is assigned records, or receives records from "
            "an assignment rule: hand those over first"
        }
    ),
)
async def remove_member(user_id: UUID, principal: MembersManage, uow: UoW) -> Response:
    """Remove a member: their tokens for this organisation stop working at once."""
    await service.remove_member(uow, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@members.post("/{user_id}/mfa-reset", status_code=status.HTTP_204_NO_CONTENT)
async def reset_member_mfa(user_id: UUID, principal: MembersManage, uow: UoW) -> Response:
    """Clear a member's second factor (lost phone): they must enrol again at their next sign-in."""
    await service.reset_member_mfa(uow, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me.get("", response_model=ProfileOut, responses=problem_docs(NO_USER))
async def get_profile(principal: OwnProfile, uow: UoW) -> ProfileOut:
    assert principal.user_id is not None
    return ProfileOut.model_validate(await service.profile(uow, principal.user_id))


@me.patch("", response_model=ProfileOut, responses=problem_docs(NO_USER))
async def update_profile(body: ProfileUpdate, principal: OwnProfile, uow: UoW) -> ProfileOut:
    """Change your name, locale or time zone."""
    assert principal.user_id is not None
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    return ProfileOut.model_validate(await service.update_profile(uow, principal.user_id, changes))


@me.get("/security-events", response_model=Page[SecurityEventOut])
async def list_my_security_events(principal: OwnProfile, uow: UoW, page: PageQuery) -> Page[SecurityEventOut]:
    """Your account's sign-ins (accepted and refused), second-factor, password and e-mail changes, newest
    first. Nobody else's: the database shows a user only their own."""
    rows, next_cursor = await repository.security_events_page(uow.session, page)
    return Page(items=[SecurityEventOut.model_validate(r) for r in rows], next_cursor=next_cursor)
