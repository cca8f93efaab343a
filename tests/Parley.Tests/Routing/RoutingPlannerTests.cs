using Parley.Data;
using Parley.Server.Routing;

namespace Parley.Tests.Routing;

/// <summary>The routing pass's decisions, from a snapshot and a time alone: no database, no services.</summary>
public sealed class RoutingPlannerTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 5, 12, 0, 0, TimeSpan.Zero); // a Saturday
    private static readonly DateTime T0 = Now.UtcDateTime.AddMinutes(-30);
    private static readonly Guid A = Guid.Parse("00000000-0000-0000-0000-00000000000a");
    private static readonly Guid B = Guid.Parse("00000000-0000-0000-0000-00000000000b");
    private static readonly Guid C = Guid.Parse("00000000-0000-0000-0000-00000000000c");
    private static readonly Guid Sales = Guid.Parse("00000000-0000-0000-0000-0000000005a1");
    private static readonly Guid Support = Guid.Parse("00000000-0000-0000-0000-00000000050f");

    [Fact]
    public void VipOvertakesOlderVisitors()
    {
        var older = Waiting(queuedMinute: 0);
        var vip = Waiting(queuedMinute: 5, priority: ContactAttributesRule.VipPriority);
        var plan = RoutingPlanner.Plan(Snapshot([older, vip], [Agent(A, capacity: 1)]), Now);

        Assert.Equal(vip.Id, Assert.Single(plan.Assignments).ConversationId);
        var waiting = Assert.Single(plan.Positions);
        Assert.Equal((older.Id, QueueStatus.Queued, 1), (waiting.ConversationId, waiting.State, waiting.Position));
    }

    [Fact]
    public void OldestFirst_ThenById_WhateverOrderTheRowsWereReadIn()
    {
        var first = Waiting(queuedMinute: 0);
        var sameTimeLowId = Waiting(queuedMinute: 1, id: Guid.Parse("00000000-0000-0000-0000-000000000001"));
        var sameTimeHighId = Waiting(queuedMinute: 1, id: Guid.Parse("00000000-0000-0000-0000-000000000002"));
        var last = Waiting(queuedMinute: 2);
        var plan = RoutingPlanner.Plan(Snapshot([last, sameTimeHighId, first, sameTimeLowId], [Agent(A, capacity: 2)]), Now);

        Assert.Equal([first.Id, sameTimeLowId.Id], plan.Assignments.Select(a => a.ConversationId));
        Assert.Equal([(sameTimeHighId.Id, 1), (last.Id, 2)], plan.Positions.Select(p => (p.ConversationId, p.Position)));
    }

    [Fact]
    public void NobodyGetsMoreThanTheirCapacity_AndTheRestWaitWithAnEstimate()
    {
        var queue = Enumerable.Range(0, 5).Select(i => Waiting(queuedMinute: i)).ToArray();
        var plan = RoutingPlanner.Plan(Snapshot(queue, [Agent(A, capacity: 2, load: 1), Agent(B, capacity: 2)]), Now, _ => 60);

        // LeastBusy: B (0/2), then A and B tie at 1/2 and A, not given one this pass, wins; then both are full.
        Assert.Equal([B, A, B], plan.Assignments.Select(a => a.AgentId));
        Assert.All(plan.Assignments, a => Assert.Equal((AssignMode.Route, AssignReason.Routed), (a.Mode, a.Reason)));
        // Two waiting, four seats online: position × 60 s / 4.
        Assert.Equal([(1, 15), (2, 30)], plan.Positions.Select(p => (p.Position, p.EstimatedWaitSeconds!.Value)));
    }

    [Fact]
    public void StickyQueue_GivesTheVisitorTheirLastAgent_WhileThatAgentHasRoom()
    {
        var returning = Waiting(queuedMinute: 0);
        var last = new Dictionary<Guid, Guid> { [returning.ContactId] = B };

        var plan = RoutingPlanner.Plan(Snapshot([returning], [Agent(A, capacity: 5), Agent(B, capacity: 5, load: 3)], last), Now);
        Assert.Equal((B, AssignReason.Sticky), (plan.Assignments[0].AgentId, plan.Assignments[0].Reason));

        plan = RoutingPlanner.Plan(Snapshot([returning], [Agent(A, capacity: 5), Agent(B, capacity: 3, load: 3)], last), Now);
        Assert.Equal((A, AssignReason.Routed), (plan.Assignments[0].AgentId, plan.Assignments[0].Reason));

        var notSticky = new RoutingDefaults(RoutingStrategy.LeastBusy, Sticky: false, OfferTimeoutSeconds: 0);
        plan = RoutingPlanner.Plan(Snapshot([returning], [Agent(A, capacity: 5), Agent(B, capacity: 5, load: 3)], last, defaults: notSticky), Now);
        Assert.Equal((A, AssignReason.Routed), (plan.Assignments[0].AgentId, plan.Assignments[0].Reason));
    }

    [Fact]
    public void TeamQueue_IsServedOnlyByItsMembers()
    {
        var forSales = Waiting(queuedMinute: 0, team: Sales);
        var general = Waiting(queuedMinute: 1);
        var plan = RoutingPlanner.Plan(
            Snapshot([forSales, general], [Agent(A, capacity: 1), Agent(B, capacity: 1)], teams: [Team(Sales, members: [B])]), Now);

        Assert.Equal([(forSales.Id, B), (general.Id, A)], plan.Assignments.Select(a => (a.ConversationId, a.AgentId)));
    }

    [Fact]
    public void AgentsWhoAreNotOnline_AreSkipped()
    {
        // A is a member of the team but away: the snapshot lists only online, active agents.
        var conversation = Waiting(queuedMinute: 0, team: Support);
        var plan = RoutingPlanner.Plan(
            Snapshot([conversation], [Agent(B, capacity: 1), Agent(C, capacity: 9)], teams: [Team(Support, members: [A, B])]), Now);
        Assert.Equal(B, Assert.Single(plan.Assignments).AgentId);

        plan = RoutingPlanner.Plan(Snapshot([conversation], [Agent(C, capacity: 9)], teams: [Team(Support, members: [A])]), Now);
        Assert.Empty(plan.Assignments);
        var status = Assert.Single(plan.Positions);
        Assert.Equal((QueueStatus.Queued, 1, (int?)null), (status.State, status.Position, status.EstimatedWaitSeconds)); // nobody online: no estimate
    }

    [Fact]
    public void ConversationRoutedByIntentToATeam_WaitsForThatTeam_EvenWhenOthersAreFree()
    {
        // Intent routing chose Sales (RoutingContext.TeamId); only its member may take it.
        var complaint = Waiting(queuedMinute: 0, team: Sales);
        var plan = RoutingPlanner.Plan(
            Snapshot([complaint], [Agent(A, capacity: 5), Agent(B, capacity: 1, load: 1)], teams: [Team(Sales, members: [B]), Team(Support, members: [A])]), Now);

        Assert.Empty(plan.Assignments);
        Assert.Equal(QueueStatus.Queued, Assert.Single(plan.Positions).State);
    }

    [Fact]
    public void AnAgentWhoDeclined_IsNotOfferedTheSameConversationAgain()
    {
        var declined = Waiting(queuedMinute: 0) with { DeclinedBy = A.ToString("N") };
        var plan = RoutingPlanner.Plan(Snapshot([declined], [Agent(A, capacity: 5), Agent(B, capacity: 5, load: 4)]), Now);
        Assert.Equal(B, Assert.Single(plan.Assignments).AgentId);
    }

    [Fact]
    public void OfferTimeout_OffersInsteadOfAssigning_AndTheOfferCountsAgainstCapacity()
    {
        var first = Waiting(queuedMinute: 0);
        var second = Waiting(queuedMinute: 1);
        var alreadyOffered = Waiting(queuedMinute: -5) with { OfferedToId = B };
        var offers = new RoutingDefaults(RoutingStrategy.LeastBusy, Sticky: true, OfferTimeoutSeconds: 20);
        var plan = RoutingPlanner.Plan(Snapshot([first, second, alreadyOffered], [Agent(A, capacity: 1)], defaults: offers), Now);

        var offer = Assert.Single(plan.Assignments);
        Assert.Equal((first.Id, A, AssignMode.Offer, 20), (offer.ConversationId, offer.AgentId, offer.Mode, offer.OfferTimeoutSeconds));
        Assert.Equal(
            [(alreadyOffered.Id, QueueStatus.Offered), (first.Id, QueueStatus.Offered), (second.Id, QueueStatus.Queued)],
            plan.Positions.Select(p => (p.ConversationId, p.State)));
    }

    [Fact]
    public void ManualTeamsAndClosedTeams_AreNotRouted_TheOtherQueuesStillAre()
    {
        var manual = Waiting(queuedMinute: 0, team: Sales);
        var closed = Waiting(queuedMinute: 1, team: Support);
        var general = Waiting(queuedMinute: 2);
        var mondayMornings = BusinessHours.Create("UTC", new HoursDto { Weekly = [new OpeningSpan("monday", "09:00", "10:00")] });
        var plan = RoutingPlanner.Plan(
            Snapshot(
                [manual, closed, general],
                [Agent(A, capacity: 5)],
                teams: [Team(Sales, members: [A]) with { Strategy = RoutingStrategy.Manual }, Team(Support, members: [A]) with { Hours = mondayMornings }]),
            Now);

        Assert.Equal(general.Id, Assert.Single(plan.Assignments).ConversationId);
        Assert.Equal([QueueStatus.Queued, QueueStatus.Offline], plan.Positions.Select(p => p.State));
    }

    [Fact]
    public void Overflow_MovesALongWaitToTheOverflowTeam_WhichServesItInTheSamePass()
    {
        var waitedLong = Waiting(queuedMinute: 0, team: Sales) with { RoutedAt = T0 };
        var waitedLongNowhere = Waiting(queuedMinute: 1, team: Support) with { RoutedAt = T0 };
        var justArrived = Waiting(queuedMinute: 2, team: Sales) with { RoutedAt = Now.UtcDateTime.AddMinutes(-1) };
        var overflowTeam = C;
        var plan = RoutingPlanner.Plan(
            Snapshot(
                [waitedLong, waitedLongNowhere, justArrived],
                [Agent(A, capacity: 1)],
                teams:
                [
                    Team(Sales, members: []) with { OverflowAfterMinutes = 10, OverflowTeamId = overflowTeam },
                    Team(Support, members: []) with { OverflowAfterMinutes = 10 },
                    Team(overflowTeam, members: [A]),
                ]),
            Now);

        Assert.Equal([new OverflowMove(waitedLong.Id, Sales, overflowTeam), new OverflowMove(waitedLongNowhere.Id, Support, null)], plan.Overflows);
        var assignment = Assert.Single(plan.Assignments);
        Assert.Equal((waitedLong.Id, A), (assignment.ConversationId, assignment.AgentId));
        Assert.Equal(
            [(waitedLongNowhere.Id, QueueStatus.Offline), (justArrived.Id, QueueStatus.Queued)],
            plan.Positions.Select(p => (p.ConversationId, p.State)));
    }

    [Fact]
    public void WhenAnotherNodeFilledTheAgent_TheRestOfThePassGoesToOthers_AndAnotherPassIsAsked()
    {
        var first = Waiting(queuedMinute: 0);
        var second = Waiting(queuedMinute: 1);
        var third = Waiting(queuedMinute: 2);
        var planner = new RoutingPlanner(Snapshot([first, second, third], [Agent(A, capacity: 5), Agent(B, capacity: 5, load: 1)]), Now);

        var step = planner.Next()!;
        Assert.Equal((first.Id, A), (step.ConversationId, step.AgentId));
        planner.Record(AssignOutcome.AtCapacity);

        step = planner.Next()!;
        Assert.Equal((second.Id, B), (step.ConversationId, step.AgentId));
        planner.Record(AssignOutcome.Taken); // another node assigned it meanwhile

        step = planner.Next()!;
        Assert.Equal((third.Id, B), (step.ConversationId, step.AgentId)); // B's load did not grow
        planner.Record(AssignOutcome.AgentUnavailable); // deactivated meanwhile

        Assert.Null(planner.Next());
        Assert.True(planner.Again);
        Assert.Equal(
            [(first.Id, QueueStatus.Queued), (second.Id, QueueStatus.Assigned), (third.Id, QueueStatus.Queued)],
            planner.Positions(_ => 60).Select(p => (p.ConversationId, p.State)));
    }

    private static WaitingConversation Waiting(int queuedMinute, int priority = 0, Guid? team = null, Guid? id = null) =>
        new(id ?? Guid.NewGuid(), team, priority, Guid.NewGuid(), T0.AddMinutes(queuedMinute), T0.AddMinutes(queuedMinute));

    private static RoutingAgent Agent(Guid id, int capacity, int load = 0) => new(id, capacity, load);

    private static RoutingTeam Team(Guid id, Guid[] members) =>
        new(id, RoutingStrategy.LeastBusy, Sticky: true, OfferTimeoutSeconds: 0, BusinessHours.AlwaysOpen, members.ToDictionary(m => m, _ => (DateTime?)null));

    private static RoutingSnapshot Snapshot(
        WaitingConversation[] queue, RoutingAgent[] agents, Dictionary<Guid, Guid>? lastAgents = null, RoutingTeam[]? teams = null, RoutingDefaults? defaults = null) =>
        new(
            queue,
            (teams ?? []).ToDictionary(t => t.Id),
            agents.ToDictionary(a => a.Id),
            lastAgents ?? [],
            defaults ?? new RoutingDefaults(RoutingStrategy.LeastBusy, Sticky: true, OfferTimeoutSeconds: 0));
}
