using Parley.Data;
using Parley.Server.Routing;

namespace Parley.Tests.Routing;

public sealed class StrategyTests
{
    private static readonly Guid A = Guid.Parse("00000000-0000-0000-0000-00000000000a");
    private static readonly Guid B = Guid.Parse("00000000-0000-0000-0000-00000000000b");
    private static readonly Guid C = Guid.Parse("00000000-0000-0000-0000-00000000000c");
    private static readonly DateTime T0 = new(2026, 11, 25, 12, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void RoundRobin_PicksTheMemberAssignedLongestAgo_NeverAssignedFirst()
    {
        Candidate[] candidates = [new(A, 0, 5, T0.AddMinutes(2)), new(B, 4, 5, T0), new(C, 0, 5, null)];
        Assert.Equal(C, Strategies.Choose(RoutingStrategy.RoundRobin, candidates));
        Assert.Equal(B, Strategies.Choose(RoutingStrategy.RoundRobin, candidates[..2]));
    }

    [Fact]
    public void RoundRobin_RotatesThroughEveryoneAsAssignmentsHappen()
    {
        var cursor = new Dictionary<Guid, DateTime?> { [A] = null, [B] = null, [C] = null };
        var picks = new List<Guid>();
        for (var i = 0; i < 6; i++)
        {
            var candidates = cursor.Select(x => new Candidate(x.Key, 0, 10, x.Value)).ToList();
            var pick = Strategies.Choose(RoutingStrategy.RoundRobin, candidates)!.Value;
            picks.Add(pick);
            cursor[pick] = T0.AddSeconds(i);
        }

        Assert.Equal([A, B, C, A, B, C], picks);
    }

    [Fact]
    public void LeastBusy_ComparesLoadRelativeToCapacity()
    {
        // A: 3/4 = 75 %, B: 5/20 = 25 %, C: 1/2 = 50 %.
        Candidate[] candidates = [new(A, 3, 4, null), new(B, 5, 20, null), new(C, 1, 2, null)];
        Assert.Equal(B, Strategies.Choose(RoutingStrategy.LeastBusy, candidates));
    }

    [Fact]
    public void LeastBusy_TiesGoToWhoWaitedLongest()
    {
        Candidate[] candidates = [new(A, 2, 10, T0), new(B, 2, 10, T0.AddMinutes(-5))];
        Assert.Equal(B, Strategies.Choose(RoutingStrategy.LeastBusy, candidates));
    }

    [Theory]
    [InlineData(RoutingStrategy.RoundRobin)]
    [InlineData(RoutingStrategy.LeastBusy)]
    public void AgentsWithoutRoom_AreNeverChosen(RoutingStrategy strategy)
    {
        Candidate[] candidates = [new(A, 20, 20, null), new(B, 3, 3, null)];
        Assert.Null(Strategies.Choose(strategy, candidates));
        Assert.Equal(C, Strategies.Choose(strategy, [.. candidates, new(C, 19, 20, T0)]));
    }

    [Fact]
    public void Manual_NeverAssigns()
    {
        Assert.Null(Strategies.Choose(RoutingStrategy.Manual, [new(A, 0, 20, null)], preferred: A));
    }

    [Theory]
    [InlineData(RoutingStrategy.RoundRobin)]
    [InlineData(RoutingStrategy.LeastBusy)]
    public void Sticky_PrefersTheLastAgent_OnlyWhenTheyHaveRoom(RoutingStrategy strategy)
    {
        Candidate[] candidates = [new(A, 0, 20, null), new(B, 19, 20, T0)];
        Assert.Equal(B, Strategies.Choose(strategy, candidates, preferred: B));

        Candidate[] full = [new(A, 0, 20, null), new(B, 20, 20, T0)];
        Assert.Equal(A, Strategies.Choose(strategy, full, preferred: B));

        // The last agent is not a candidate (offline, or not in the team): the strategy decides.
        Assert.Equal(A, Strategies.Choose(strategy, candidates[..1], preferred: C));
    }
}
