"""What the widget's identify call does: store who the visitor is, answer their feed."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.end_users.service import end_user_service
from app.end_users.visitors import Visitor, check_visitor
from app.feed.plan import FeedPlan, FeedRequest, UserView, plan_feed, state_view
from app.feed.snapshot import WorkspaceSnapshot
from app.kit.time import utc_now
from app.targeting.attributes import validate_user_attributes
from app.widget.schemas import IdentifyRequest


async def identify(
    session: AsyncSession,
    snapshot: WorkspaceSnapshot,
    request: IdentifyRequest,
    user_agent: str | None,
) -> FeedPlan:
    visitor = Visitor(request.user_id, request.anonymous_id, request.user_hash)
    check_visitor(snapshot, visitor)
    attributes = validate_user_attributes(request.attributes)
    now = utc_now()
    end_user, states = await end_user_service.identify(
        session, snapshot.workspace_id, visitor, attributes, request.locale, now
    )
    user = UserView(
        end_user.id,
        end_user.state_version,
        end_user.attributes,
        end_user.locale,
        {state.announcement_id: state_view(state) for state in states},
    )
    return plan_feed(snapshot, FeedRequest(visitor, request.locale, user_agent, now), user)
