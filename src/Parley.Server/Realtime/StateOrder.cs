using System.Collections.Concurrent;

namespace Parley.Server.Realtime;

/// <summary>
/// Keeps a conversation's states going out in the order they were read. States are published from many threads and
/// nodes (the group commit's <c>MessageCommitted</c>, a routing pass, a hand-off, another node over the bus), so a state
/// read before a change can reach the fan-out after it. Clients keep only the newest state per conversation (and a
/// connection's pending state is replaced by the next one), so that late, older state would undo the change: an
/// agent's inbox showing a conversation as waiting when routing had just assigned it.
/// <para>
/// The order comes from the database, not from clocks: a state carries the conversation's <c>LastSeq</c>, which only
/// grows. A state with a smaller one was read before the newer one's message was committed: it is older. With the same
/// one, the state a commit publishes (<c>MessageCommitted</c>, the row as that commit left it) is older than any state
/// read by a change after it (<c>ConversationChanged</c> with that <c>LastSeq</c> was read once the commit was visible).
/// Two changes with the same <c>LastSeq</c> cannot be told apart and both go out, as before.
/// </para>
/// Memory is bounded: past <see cref="MaxTracked"/> conversations it starts over, which only admits everything once.
/// </summary>
internal sealed class StateOrder
{
    internal const int MaxTracked = 100_000;

    private const int Stripes = 64;

    private readonly ConcurrentDictionary<Guid, (long Seq, bool Changed)> _newest = new();
    private readonly Lock[] _gates = Enumerable.Range(0, Stripes).Select(_ => new Lock()).ToArray();

    /// <summary>
    /// The lock to hold around <see cref="Admit"/> and the push that follows it, so two states of one conversation are
    /// decided and queued in the same order.
    /// </summary>
    public Lock GateOf(Guid conversationId) => _gates[(conversationId.GetHashCode() & int.MaxValue) % Stripes];

    /// <summary>
    /// True when a state of <paramref name="conversationId"/> with <paramref name="lastSeq"/> may go out (and it is
    /// recorded as the newest); false when a newer one already went out. <paramref name="change"/>: the state was read
    /// after a change (<c>ConversationChanged</c>), not published by the commit of its newest message.
    /// </summary>
    public bool Admit(Guid conversationId, long lastSeq, bool change)
    {
        if (_newest.TryGetValue(conversationId, out var newest))
        {
            if (lastSeq < newest.Seq || (lastSeq == newest.Seq && !change && newest.Changed))
            {
                return false;
            }

            _newest[conversationId] = lastSeq > newest.Seq ? (lastSeq, change) : (lastSeq, newest.Changed || change);
            return true;
        }

        if (_newest.Count >= MaxTracked)
        {
            _newest.Clear();
        }

        _newest[conversationId] = (lastSeq, change);
        return true;
    }
}
