using System.Diagnostics;
using MessagePack;

namespace Parley.LoadTest;

/// <summary>One conversation as the generator tracks it: who sends into it and who must receive each message.</summary>
internal sealed class Conv(Guid id)
{
    private long _maxAckSeq;

    public Guid Id { get; } = id;

    /// <summary>Connections that send into this conversation (round robin).</summary>
    public List<HubClient> Senders { get; } = [];

    /// <summary>The agent that answers in this conversation (<c>--agent-rate</c>), if any.</summary>
    public HubClient? AgentSender { get; set; }

    /// <summary>Per receiving connection, its view of this conversation.</summary>
    public Dictionary<HubClient, SeqTrack> Receivers { get; } = [];

    public long MaxAckSeq => Volatile.Read(ref _maxAckSeq);

    public int NextSender;

    public void Acked(long seq)
    {
        long current;
        while (seq > (current = Volatile.Read(ref _maxAckSeq)) && Interlocked.CompareExchange(ref _maxAckSeq, seq, current) != current)
        {
        }
    }
}

/// <summary>
/// Open-model message load: sends are scheduled on a clock at fixed intended times regardless of replies, each
/// body carries its intended send time, and every ack and every delivered <c>message</c> event is timed against it.
/// </summary>
internal sealed class MessageLoad
{
    private readonly Dictionary<Guid, Conv> _conversations = [];
    private readonly List<Conv> _order = [];
    private long _sent;
    private long _acked;
    private long _failed;
    private long _deliveries;
    private long _updates;
    private long _lastAckTicks;
    private long _measureStart;
    private long _refused;
    private long _agentSent;
    private long _agentAcked;
    private long _agentFailed;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<HubClient, Outbox> _outboxes = new();

    /// <summary>
    /// Most visitor sends one connection has unanswered (<c>--window</c>, 0 = no limit): like the widget's outbox, a
    /// message typed beyond it waits in the client, with its intended time, until an earlier one is answered. Keeps
    /// the generator's own memory bounded when the server holds sends back; the offered load is unchanged. A send the
    /// server refuses as <c>overloaded</c> goes back to the front of its outbox, and the outbox pauses as the widget's
    /// does (1–2 s at random, doubling to 30–60 s, reset by an ack) before it sends its first message again, with the
    /// same client id; the rest follow once that one is answered.
    /// </summary>
    public int Window { get; init; }

    public Latency AckLatency { get; } = new();

    public Latency DeliveryLatency { get; } = new();

    /// <summary>Agents' sends (<c>--agent-rate</c>), timed apart from the visitors' so their priority shows.</summary>
    public Latency AgentAckLatency { get; } = new();

    /// <summary>Visitor sends the server refused as <c>overloaded</c> (not stored; retried later as the widget does, so one message may count more than once).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Visitor messages typed but neither acknowledged nor failed: in flight, or waiting in an outbox.</summary>
    public long Unanswered => Sent - Acked - Interlocked.Read(ref _failed);

    public long AgentSent => Interlocked.Read(ref _agentSent);

    public long AgentAcked => Interlocked.Read(ref _agentAcked);

    public long AgentFailed => Interlocked.Read(ref _agentFailed);

    public Errors Errors { get; } = new();

    public bool Recording { get; set; } = true;

    public long Sent => Interlocked.Read(ref _sent);

    public long Acked => Interlocked.Read(ref _acked);

    public long Deliveries => Interlocked.Read(ref _deliveries);

    public long Updates => Interlocked.Read(ref _updates);

    public IReadOnlyList<Conv> Conversations => _order;

    public Conv Add(Guid id)
    {
        var conv = new Conv(id);
        _conversations.Add(id, conv);
        _order.Add(conv);
        return conv;
    }

    /// <summary>Receives hub events for every connection of the load.</summary>
    public void OnEvent(HubClient client, string target, ref MessagePackReader args)
    {
        if (target == "message")
        {
            args.ReadArrayHeader();
            var message = Wire.ReadMessage(ref args);
            Interlocked.Increment(ref _deliveries);
            if (message.IntendedTicks > 0 && Recording)
            {
                DeliveryLatency.RecordSince(message.IntendedTicks);
            }

            if (_conversations.TryGetValue(message.ConversationId, out var conv) && conv.Receivers.TryGetValue(client, out var track))
            {
                track.Apply(message.Seq);
            }
        }
        else if (target == "conversationUpdated")
        {
            Interlocked.Increment(ref _updates);
        }
        else if (target == "conversationsUpdated")
        {
            // One tick's summaries under the server's Pressure (docs/protocol.md): each counts as an update.
            args.ReadArrayHeader();
            Interlocked.Add(ref _updates, args.ReadArrayHeader());
        }
    }

    public void ResetCounters()
    {
        Interlocked.Increment(ref _epoch); // answers to sends typed before this are no longer counted
        AckLatency.Reset();
        DeliveryLatency.Reset();
        AgentAckLatency.Reset();
        Interlocked.Exchange(ref _refused, 0);
        Interlocked.Exchange(ref _agentSent, 0);
        Interlocked.Exchange(ref _agentAcked, 0);
        Interlocked.Exchange(ref _agentFailed, 0);
        Interlocked.Exchange(ref _sent, 0);
        Interlocked.Exchange(ref _acked, 0);
        Interlocked.Exchange(ref _failed, 0);
        Interlocked.Exchange(ref _deliveries, 0);
        Interlocked.Exchange(ref _updates, 0);
    }

    /// <summary>
    /// Sends <paramref name="rate"/> visitor messages per second (and <paramref name="agentRate"/> agent replies) for
    /// <paramref name="seconds"/> on dedicated threads, round robin over the conversations; returns the start timestamp.
    /// </summary>
    public long Run(double rate, double seconds, double agentRate = 0)
    {
        var start = Stopwatch.GetTimestamp();
        _measureStart = start;
        var visitors = Drive("sender", rate, seconds, start, (k, intended) =>
        {
            var conv = _order[(int)(k % _order.Count)];
            SendOne(conv.Senders[conv.NextSender++ % conv.Senders.Count], conv, intended, agent: false);
        });
        var agents = agentRate <= 0 ? null : Drive("agent-sender", agentRate, seconds, start, (k, intended) =>
        {
            // A different stride than the visitors' so agent replies land in conversations under load.
            var conv = _order[(int)(k * 7 % _order.Count)];
            if (conv.AgentSender is { } agent)
            {
                SendOne(agent, conv, intended, agent: true);
            }
        });
        visitors.Join();
        agents?.Join();
        return start;
    }

    /// <summary>Calls <paramref name="send"/> for the k-th message at its intended time, on its own thread.</summary>
    private static Thread Drive(string name, double rate, double seconds, long start, Action<long, long> send)
    {
        var total = (long)(rate * seconds);
        var ticksPerMessage = Stopwatch.Frequency / rate;
        var thread = new Thread(() =>
        {
            long k = 0;
            while (k < total)
            {
                var now = Stopwatch.GetTimestamp();
                var due = Math.Min(total, (long)((now - start) / ticksPerMessage) + 1);
                for (; k < due; k++)
                {
                    send(k, start + (long)(k * ticksPerMessage));
                }

                Thread.Sleep(1);
            }
        })
        { IsBackground = true, Name = name, Priority = ThreadPriority.AboveNormal };
        thread.Start();
        return thread;
    }

    private void SendOne(HubClient sender, Conv conv, long intended, bool agent)
    {
        Interlocked.Increment(ref agent ? ref _agentSent : ref _sent);
        if (!sender.IsOpen)
        {
            Interlocked.Increment(ref agent ? ref _agentFailed : ref _failed);
            Errors.Add("send on closed connection");
            return;
        }

        var item = new Typed(conv, intended, Guid.NewGuid(), Volatile.Read(ref _epoch));
        if (!agent)
        {
            var outbox = OutboxOf(sender);
            lock (outbox)
            {
                if (!outbox.MayGo(Window))
                {
                    outbox.Waiting.AddLast(item);
                    return;
                }

                outbox.InFlight++;
            }
        }

        Invoke(sender, item, agent);
    }

    private void Invoke(HubClient sender, Typed item, bool agent) =>
        _ = sender.SendInvocationAsync("Send", Wire.SendArgs(item.Conv.Id, item.ClientId, Wire.Body(item.Intended)), new PendingSend(this, sender, item, agent));

    /// <summary>
    /// A message as typed: its conversation, its intended send time, its client id (kept across retries), and the
    /// counters' epoch it was typed in (a warm-up send answered after <see cref="ResetCounters"/> is not counted).
    /// </summary>
    private sealed record Typed(Conv Conv, long Intended, Guid ClientId, int Epoch);

    private int _epoch;

    /// <summary>Whether <paramref name="item"/>'s outcome counts: it was typed since the counters were last reset.</summary>
    private bool Counts(Typed item) => item.Epoch == Volatile.Read(ref _epoch);

    private void Count(Typed item, ref long counter)
    {
        if (Counts(item))
        {
            Interlocked.Increment(ref counter);
        }
    }

    // The back-off's ceilings: the server's ClientBackOff (ClientContractTests checks this copy).
    private const int ThrottleFirstCeilingMilliseconds = 2_000;
    private const int ThrottleMaxCeilingMilliseconds = 60_000;

    /// <summary>
    /// The widget's pause before the n-th refused retry in a row (web/packages/shared/src/errors.ts, throttleDelay): 2 s
    /// doubling to a minute, of which the second half is random so that visitors refused together do not return together.
    /// </summary>
    private static TimeSpan ThrottleDelay(int attempt)
    {
        var ceiling = Math.Min(ThrottleMaxCeilingMilliseconds, ThrottleFirstCeilingMilliseconds * Math.Pow(2, Math.Max(0, attempt)));
        return TimeSpan.FromMilliseconds(ceiling / 2 + Random.Shared.NextDouble() * ceiling / 2);
    }

    /// <summary>Stops refused sends' retries (the measured run is over).</summary>
    public void StopRetries() => Volatile.Write(ref _stopped, true);

    private bool _stopped;

    private Outbox OutboxOf(HubClient sender) => _outboxes.GetOrAdd(sender, static _ => new Outbox());

    /// <summary>A visitor send was answered (acked, or failed for good): what was typed meanwhile goes out, up to the window.</summary>
    private void Answered(HubClient sender, bool agent, bool acked)
    {
        if (agent)
        {
            return;
        }

        var outbox = OutboxOf(sender);
        List<Typed>? next;
        lock (outbox)
        {
            outbox.InFlight--;
            if (acked)
            {
                outbox.Throttled = 0;
            }

            outbox.Probing = false;
            next = Take(outbox, Window);
        }

        foreach (var item in next ?? [])
        {
            Send(sender, item);
        }
    }

    /// <summary>Takes what may go out now, up to <paramref name="window"/> unanswered (0: no limit), counting it in flight.</summary>
    private List<Typed>? Take(Outbox outbox, int window)
    {
        List<Typed>? take = null;
        while (!Volatile.Read(ref _stopped) && outbox.MayGo(window) && outbox.Waiting.First is { } first)
        {
            (take ??= []).Add(first.Value);
            outbox.Waiting.RemoveFirst();
            outbox.InFlight++;
        }

        return take;
    }

    /// <summary>
    /// The server refused a visitor send as <c>overloaded</c>: it goes back to the front of its outbox, which pauses for
    /// the widget's back-off and then sends again from the front.
    /// </summary>
    private void RefusedSend(HubClient sender, Typed item)
    {
        Count(item, ref _refused);
        var outbox = OutboxOf(sender);
        TimeSpan? pause = null;
        lock (outbox)
        {
            outbox.InFlight--;
            outbox.Probing = false;
            outbox.Waiting.AddFirst(item);
            if (!outbox.Paused)
            {
                outbox.Paused = true;
                pause = ThrottleDelay(outbox.Throttled++);
            }
        }

        if (pause is { } delay)
        {
            _ = Task.Delay(delay).ContinueWith(_ => Resume(sender), TaskScheduler.Default);
        }
    }

    /// <summary>
    /// After a refusal's pause the outbox sends only its first message, as the widget does (it always has one in flight);
    /// the rest follow, up to the window, once that one is answered.
    /// </summary>
    private void Resume(HubClient sender)
    {
        var outbox = OutboxOf(sender);
        List<Typed>? resend;
        lock (outbox)
        {
            outbox.Paused = false;
            resend = Take(outbox, outbox.InFlight + 1);
            outbox.Probing = resend is not null;
        }

        foreach (var item in resend ?? [])
        {
            Send(sender, item);
        }
    }

    private void Send(HubClient sender, Typed item)
    {
        if (sender.IsOpen)
        {
            Invoke(sender, item, agent: false);
        }
        else
        {
            Count(item, ref _failed);
            Errors.Add("send on closed connection");
        }
    }

    private sealed class Outbox
    {
        public int InFlight;

        /// <summary>Consecutive refusals (<c>overloaded</c>) since the last ack: the next pause's exponent.</summary>
        public int Throttled;

        /// <summary>Waiting out a refusal's back-off: nothing goes out until it ends.</summary>
        public bool Paused;

        /// <summary>After a pause, one message is out to see whether the server takes sends again.</summary>
        public bool Probing;

        /// <summary>Whether another message may go out now: none during a back-off or a probe, else up to <paramref name="window"/> unanswered (0: no limit).</summary>
        public bool MayGo(int window) => !Paused && !Probing && (window <= 0 || InFlight < window);

        public LinkedList<Typed> Waiting { get; } = new();
    }

    /// <summary>Waits until every send is answered and every receiver has caught up, or the timeout passes.</summary>
    public async Task<bool> DrainAsync(TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (Acked + Interlocked.Read(ref _failed) >= Sent && AgentAcked + AgentFailed >= AgentSent && _order.All(c => c.Receivers.Values.All(r => r.Last >= c.MaxAckSeq)))
            {
                return true;
            }

            await Task.Delay(50);
        }

        return false;
    }

    /// <summary>
    /// Lost / duplicated / out-of-order deliveries over all receivers, checked by seq. A receiver still connected that
    /// is only behind (no gap) counts in <c>Pending</c>, not as lost: when the drain timed out those deliveries were
    /// still on their way (the server delivers in order per connection, so only a gap or a closed receiver is a loss).
    /// </summary>
    public (long Lost, long Duplicates, long OutOfOrder, long Expected) Verify() => Verify(out _);

    public (long Lost, long Duplicates, long OutOfOrder, long Expected) Verify(out long pending)
    {
        long lost = 0, dup = 0, ooo = 0, expected = 0;
        pending = 0;
        foreach (var conv in _order)
        {
            var final = conv.MaxAckSeq;
            foreach (var (client, track) in conv.Receivers)
            {
                expected += Math.Max(0, final - track.StartSeq);
                if (client.IsOpen)
                {
                    lost += track.Skipped;
                    pending += track.Behind(final);
                }
                else
                {
                    lost += track.Lost(final);
                }

                dup += track.Duplicates;
                ooo += track.OutOfOrder;
                if (!client.IsOpen)
                {
                    // When, in 5-second steps from the start of the measured run: evicted during the load, or after it.
                    var at = (client.ClosedAtTicks - _measureStart) / Stopwatch.Frequency / 5 * 5;
                    Errors.Add($"receiver connection closed: {client.Closed.Task.Result} (at {at}-{at + 5} s)");
                }
            }
        }

        return (lost, dup, ooo, expected);
    }

    public double SecondsSinceStartToLastAck(long start) => (Interlocked.Read(ref _lastAckTicks) - start) / (double)Stopwatch.Frequency;

    /// <summary>
    /// Diagnostics: with <c>LT_AGENT_TRACE=FILE</c> every agent ack appends "acked-at intended-at latency-ms" (seconds
    /// on the generator's clock), to see when in a run the slow ones happened (the overload runs' ramp, periodic work).
    /// </summary>
    private static readonly string? TraceFile = Environment.GetEnvironmentVariable("LT_AGENT_TRACE");
    private static readonly Lock TraceLock = new();

    private sealed class PendingSend(MessageLoad load, HubClient sender, Typed item, bool agent) : IPendingCall
    {
        public void Complete(ref MessagePackReader reader, string? error, bool hasResult)
        {
            if (!agent && error is not null && error.Contains("overloaded:", StringComparison.Ordinal))
            {
                // Shed by the server's load governor: nothing stored; kept and retried after a pause, as the widget does.
                load.RefusedSend(sender, item);
                return;
            }

            var acked = false;
            try
            {
                acked = Record(ref reader, error, hasResult);
            }
            finally
            {
                load.Answered(sender, agent, acked);
            }
        }

        private bool Record(ref MessagePackReader reader, string? error, bool hasResult)
        {
            if (error is not null || !hasResult)
            {
                load.Count(item, ref agent ? ref load._agentFailed : ref load._failed);
                load.Errors.Add((agent ? "agent send error: " : "send error: ") + (error ?? "no result"));
                return false;
            }

            var ack = Wire.ReadAck(ref reader);
            var now = Stopwatch.GetTimestamp();
            var intended = item.Intended;
            if (load.Recording && load.Counts(item))
            {
                (agent ? load.AgentAckLatency : load.AckLatency).RecordTicks(now - intended);
                if (agent && TraceFile is not null)
                {
                    lock (TraceLock)
                    {
                        File.AppendAllText(TraceFile, $"{now / (double)Stopwatch.Frequency:F3} {intended / (double)Stopwatch.Frequency:F3} {(now - intended) * 1000.0 / Stopwatch.Frequency:F1}\n");
                    }
                }
            }

            item.Conv.Acked(ack.Seq);
            load.Count(item, ref agent ? ref load._agentAcked : ref load._acked);
            Interlocked.Exchange(ref load._lastAckTicks, now);
            if (ack.Duplicate)
            {
                load.Errors.Add("unexpected duplicate ack");
            }

            return true;
        }

        public void Fail(Exception exception)
        {
            load.Count(item, ref agent ? ref load._agentFailed : ref load._failed);
            load.Errors.Add("send failed: " + exception.Message);
            load.Answered(sender, agent, acked: false);
        }
    }
}

/// <summary><c>chat</c> and <c>fanout</c>.</summary>
internal static class MessageScenarios
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// chat: V visitors each in their own conversation, A agents; conversation i is joined by agent i mod A.
    /// Each visitor message is acked to the visitor, pushed to the visitor's own connection and the joined
    /// agent (<c>message</c>), and to every agent as <c>conversationUpdated</c>.
    /// </summary>
    public static async Task<Dictionary<string, object?>> ChatAsync(Options o, Target target, CancellationToken ct)
    {
        var rate = o.Double("rate", 1000);
        var visitors = o.Int("visitors", Math.Clamp((int)(rate / 5), 50, 2000));
        var agentCount = o.Int("agents", 2);
        var load = new MessageLoad { Window = o.Int("window", 0) };
        var clients = new List<HubClient>();

        Console.Error.WriteLine($"[chat] creating {visitors} visitors, {agentCount} agents");
        var cookie = await target.LoginAsync(o.Email, o.Password, ct);
        var agents = new HubClient[agentCount];
        for (var i = 0; i < agentCount; i++)
        {
            agents[i] = await target.ConnectAgentAsync(cookie, "agent" + i, load.OnEvent, ct);
        }

        clients.AddRange(agents);
        var tokens = await target.CreateVisitorsAsync(visitors, ct);
        var visitorClients = new HubClient[visitors];
        var infos = new ConversationInfo[visitors];
        await Parallel.ForAsync(0, visitors, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = ct }, async (i, c) =>
        {
            visitorClients[i] = await target.ConnectVisitorAsync(tokens[i], "visitor" + i, load.OnEvent, c);
            infos[i] = await visitorClients[i].InvokeAsync("StartConversation", Wire.NoArgs, Wire.ReadConversationInfo, CallTimeout);
        });
        clients.AddRange(visitorClients);

        for (var i = 0; i < visitors; i++)
        {
            var conv = load.Add(infos[i].Id);
            conv.Senders.Add(visitorClients[i]);
            conv.Receivers[visitorClients[i]] = new SeqTrack(infos[i].LastSeq);
            conv.Receivers[agents[i % agentCount]] = new SeqTrack(infos[i].LastSeq);
            conv.AgentSender = agents[i % agentCount];
        }

        await Parallel.ForAsync(0, visitors, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (i, _) =>
        {
            var conv = load.Conversations[i];
            var replay = await agents[i % agentCount].InvokeAsync("Join", Wire.ResumeArgs(conv.Id, infos[i].LastSeq), Wire.ReadReplay, CallTimeout);
            if (replay.Messages.Count != 0)
            {
                load.Errors.Add("join replayed messages of a fresh conversation");
            }
        });

        return await RunMeasuredAsync(o, target, load, clients, rate, "chat", new()
        {
            ["visitors"] = visitors,
            ["agents"] = agentCount,
        });
    }

    /// <summary>
    /// fanout: one conversation; R receivers are visitor connections sharing ONE visitor token (tabs) that all
    /// Resume it, plus A agents that Join it. S sender connections (same visitor) send at the offered rate.
    /// </summary>
    public static async Task<Dictionary<string, object?>> FanoutAsync(Options o, Target target, CancellationToken ct)
    {
        var rate = o.Double("rate", 50);
        var receivers = o.Int("receivers", 2000);
        var agentCount = o.Int("agents", 2);
        var senderCount = o.Int("senders", 4);
        var load = new MessageLoad();
        var clients = new List<HubClient>();

        Console.Error.WriteLine($"[fanout] {receivers} visitor tabs + {agentCount} agents on one conversation, {senderCount} senders");
        var token = await target.CreateVisitorAsync(ct);
        var first = await target.ConnectVisitorAsync(token, "sender0", load.OnEvent, ct);
        var info = await first.InvokeAsync("StartConversation", Wire.NoArgs, Wire.ReadConversationInfo, CallTimeout);
        var conv = load.Add(info.Id);
        conv.Senders.Add(first);
        clients.Add(first);
        for (var i = 1; i < senderCount; i++)
        {
            var s = await target.ConnectVisitorAsync(token, "sender" + i, load.OnEvent, ct);
            await s.InvokeAsync("Resume", Wire.ResumeArgs(info.Id, info.LastSeq), Wire.ReadReplay, CallTimeout);
            conv.Senders.Add(s);
            clients.Add(s);
        }

        var cookie = await target.LoginAsync(o.Email, o.Password, ct);
        var tabs = new HubClient[receivers];
        await Parallel.ForAsync(0, receivers, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = ct }, async (i, c) =>
            tabs[i] = await target.ConnectVisitorAsync(token, "tab" + i, load.OnEvent, c));
        foreach (var tab in tabs)
        {
            conv.Receivers[tab] = new SeqTrack(info.LastSeq);
        }

        await Parallel.ForAsync(0, receivers, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = ct }, async (i, _) =>
            await tabs[i].InvokeAsync("Resume", Wire.ResumeArgs(info.Id, info.LastSeq), Wire.ReadReplay, CallTimeout));
        clients.AddRange(tabs);
        for (var i = 0; i < agentCount; i++)
        {
            var agent = await target.ConnectAgentAsync(cookie, "agent" + i, load.OnEvent, ct);
            conv.Receivers[agent] = new SeqTrack(info.LastSeq);
            await agent.InvokeAsync("Join", Wire.ResumeArgs(info.Id, info.LastSeq), Wire.ReadReplay, CallTimeout);
            clients.Add(agent);
        }

        var result = await RunMeasuredAsync(o, target, load, clients, rate, "fanout", new()
        {
            ["receivers"] = receivers + agentCount,
            ["senders"] = senderCount,
        });
        return result;
    }

    private static async Task<Dictionary<string, object?>> RunMeasuredAsync(
        Options o, Target target, MessageLoad load, List<HubClient> clients, double rate, string scenario, Dictionary<string, object?> extra)
    {
        var seconds = o.Double("duration", 20);
        var warmup = o.Double("warmup", 3);

        // The warm-up's rate (default: the measured one). A long warm-up at a saturating rate would only leave a
        // backlog; what it is for (every path compiled, the server's periodic passes past their first run) needs time,
        // not load.
        var warmupRate = Math.Min(rate, o.Double("warmup-rate", rate));
        var agentRate = o.Double("agent-rate", 0);
        await using var keepAlive = new KeepAlive(() => clients, o.PingInterval);

        if (warmup > 0)
        {
            Console.Error.WriteLine($"[{scenario}] warm-up {warmup}s at {warmupRate}/s");
            load.Recording = false;
            load.Run(warmupRate, warmup, agentRate);
            await load.DrainAsync(TimeSpan.FromSeconds(20));
            load.ResetCounters();
            load.Recording = true;
        }

        // Receivers start counting seq from where the conversation stands after the warm-up.
        foreach (var conv in load.Conversations)
        {
            foreach (var key in conv.Receivers.Keys.ToList())
            {
                conv.Receivers[key] = new SeqTrack(conv.Receivers[key].Last);
            }
        }

        Console.Error.WriteLine($"[{scenario}] measuring {seconds}s at {rate}/s over {clients.Count} connections");
        var monitor = new ServerMonitor(o.ServerPid);
        monitor.Start();
        var start = load.Run(rate, seconds, agentRate);

        // After the load: how soon does an agent's reply go through quickly again, and the server report itself healthy?
        var recovery = o.Flag("recovery") ? Recovery.MeasureAsync(target, load, TimeSpan.FromSeconds(o.Double("recovery-seconds", 60))) : null;
        var drained = await load.DrainAsync(TimeSpan.FromSeconds(o.Double("drain", 15)));
        var elapsedToLastAck = Math.Max(seconds, load.SecondsSinceStartToLastAck(start));
        var deliveries = load.Deliveries;
        var updates = load.Updates;
        var server = await monitor.StopAsync(deliveries + updates);
        var (lost, dup, ooo, expected) = load.Verify(out var pending);
        if (!drained)
        {
            load.Errors.Add("not drained within the timeout (server fell behind)");
        }

        var result = new Dictionary<string, object?>
        {
            ["scenario"] = scenario,
            ["label"] = o.Label,
            ["offeredRate"] = rate,
            ["durationS"] = seconds,
            ["connections"] = clients.Count,
            ["sent"] = load.Sent,
            ["acked"] = load.Acked,
            ["achievedRate"] = Math.Round(load.Acked / elapsedToLastAck, 1),
            ["deliveries"] = deliveries,
            ["deliveriesPerSec"] = Math.Round(deliveries / elapsedToLastAck, 1),
            ["inboxUpdates"] = updates,
            ["expectedDeliveries"] = expected,
            ["lost"] = lost,
            ["pendingAtEnd"] = pending,
            ["duplicates"] = dup,
            ["outOfOrder"] = ooo,
            ["errors"] = load.Errors.Total,
            ["errorKinds"] = load.Errors.Snapshot(),
            ["refused"] = load.Refused,
            ["unansweredAtEnd"] = load.Unanswered,
            ["ackLatencyMs"] = load.AckLatency.Summary(),
            ["deliveryLatencyMs"] = load.DeliveryLatency.Summary(),
            ["server"] = server,
        };
        if (server.TryGetValue("allocatedMB", out var mb) && mb is double allocated && load.Acked > 0)
        {
            result["allocBytesPerMessage"] = Math.Round(allocated * 1048576 / load.Acked, 0);
        }

        if (agentRate > 0)
        {
            result["agentRate"] = agentRate;
            result["agentSent"] = load.AgentSent;
            result["agentAcked"] = load.AgentAcked;
            result["agentAckLatencyMs"] = load.AgentAckLatency.Summary();
        }

        if (recovery is not null)
        {
            foreach (var (k, v) in await recovery)
            {
                result[k] = v;
            }
        }

        foreach (var (k, v) in extra)
        {
            result[k] = v;
        }

        load.StopRetries();
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }

        return result;
    }
}
