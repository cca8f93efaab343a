namespace Parley.Server.Messaging;

/// <summary>
/// Keeps one connection's pipelined sends in the order the server received them (docs/protocol.md rule 9). A send
/// takes its turn synchronously when its invocation starts; its checks (validation, access) may then run alongside
/// the sends around it, but it enqueues its write only after the send before it has enqueued (or failed). Without
/// this, an agent's access query let later sends overtake earlier ones.
/// </summary>
public sealed class SendOrder
{
    private readonly Lock _gate = new();
    private Task _tail = Task.CompletedTask;

    /// <summary>Takes the next place in line; call before the first await of the send.</summary>
    public Turn Take()
    {
        var mine = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            var previous = _tail;
            _tail = mine.Task;
            return new Turn(previous, mine);
        }
    }

    /// <summary>One send's place: wait for <see cref="Previous"/>, enqueue, then <see cref="Done"/> (always, even on failure).</summary>
    public sealed class Turn(Task previous, TaskCompletionSource done)
    {
        public Task Previous { get; } = previous;

        /// <summary>
        /// Lets the next send go: at once when this one enqueued, or, when it failed before its turn came, as soon as
        /// the one before it has (a refused send must not let its successor overtake its predecessor).
        /// </summary>
        public void Done()
        {
            if (Previous.IsCompleted)
            {
                done.TrySetResult();
            }
            else
            {
                Previous.ContinueWith(static (_, state) => ((TaskCompletionSource)state!).TrySetResult(), done, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
    }
}
