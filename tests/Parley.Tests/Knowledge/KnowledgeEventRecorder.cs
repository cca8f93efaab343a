using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Parley.Server.Events;
using Parley.Server.Features.Knowledge;

namespace Parley.Tests.Knowledge;

/// <summary>A listener a test adds to one server: the <see cref="KnowledgeChanged"/> events that server's listeners hear.</summary>
public sealed class KnowledgeEventRecorder : IDomainEventListener<KnowledgeChanged>
{
    private readonly Lock _lock = new();
    private readonly List<KnowledgeChanged> _events = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<KnowledgeChanged> Events
    {
        get
        {
            lock (_lock)
            {
                return [.. _events];
            }
        }
    }

    public void Register(WebApplicationBuilder builder) => builder.Services.AddSingleton<IDomainEventListener<KnowledgeChanged>>(this);

    public void Handle(KnowledgeChanged domainEvent)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            _events.Add(domainEvent);
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.SetResult();
    }

    /// <summary>Waits (up to 15 s) until an event matching <paramref name="predicate"/> has been heard.</summary>
    public async Task WaitForAsync(Func<KnowledgeChanged, bool> predicate)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        while (true)
        {
            Task next;
            lock (_lock)
            {
                if (_events.Any(predicate))
                {
                    return;
                }

                next = _changed.Task;
            }

            try
            {
                await next.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                Assert.Fail($"No matching KnowledgeChanged within 15 s; heard: {string.Join(", ", Events)}");
            }
        }
    }
}
