using System.Diagnostics;
using System.Globalization;

namespace Parley.LoadTest;

/// <summary><c>idle</c>, <c>churn</c> and <c>reconnect</c>.</summary>
internal static class ConnectionScenarios
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// idle, worker side: open N visitor connections (sharing T tokens) spread over the source addresses, print
    /// READY, keep them alive with pings until a line arrives on stdin (or --hold seconds pass), then close.
    /// </summary>
    public static async Task<int> IdleWorkerAsync(Options o, Target target, CancellationToken ct)
    {
        var count = o.Int("connections", 1000);
        var tokens = o.Get("tokens")?.Split(',') ?? await target.CreateVisitorsAsync(Math.Min(count, o.Int("token-count", 100)), ct);
        var clients = new HubClient?[count];
        var failed = 0;
        var connectLatency = new Latency();
        var errors = new Errors();
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = o.Int("connect-parallelism", 64), CancellationToken = ct }, async (i, c) =>
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                clients[i] = await target.ConnectVisitorAsync(tokens[i % tokens.Length], "idle" + i, null, c, target.InvokerFor(i));
                connectLatency.RecordSince(started);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Interlocked.Increment(ref failed);
                errors.Add("connect: " + ex.GetBaseException().Message);
            }
        });

        var open = clients.Where(c => c is not null).Select(c => c!).ToArray();
        var summary = connectLatency.Summary();
        Console.WriteLine(FormattableString.Invariant($"READY {open.Length} {failed} {summary.GetValueOrDefault("p50")} {summary.GetValueOrDefault("p99")}"));
        foreach (var (kind, n) in errors.Snapshot())
        {
            Console.Error.WriteLine($"  {n} x {kind}");
        }

        await using (new KeepAlive(() => open, o.PingInterval))
        {
            var hold = Task.Delay(TimeSpan.FromSeconds(o.Double("hold", 600)), ct);
            var stdin = o.Flag("wait-stdin") ? Task.Run(() => Console.In.ReadLine(), ct) : Task.Delay(Timeout.Infinite, ct);
            await Task.WhenAny(hold, stdin);
        }

        var dropped = open.Count(c => !c.IsOpen);
        await Parallel.ForEachAsync(open, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (c, _) => await c.DisposeAsync());
        Console.WriteLine(FormattableString.Invariant($"DONE {dropped}"));
        return 0;
    }

    /// <summary>
    /// idle, coordinator: measures the server and the kernel, starts --procs worker processes that together open
    /// --connections connections over --sources, measures again once all are up, holds, then stops them.
    /// </summary>
    public static async Task<Dictionary<string, object?>> IdleAsync(Options o, Target target, CancellationToken ct)
    {
        var total = o.Int("connections", 10_000);
        var procs = o.Int("procs", 2);
        var sources = target.Sources;
        var tokens = await target.CreateVisitorsAsync(Math.Min(total, o.Int("token-count", 100)), ct);
        var pid = o.ServerPid;

        await Task.Delay(2000, ct);
        await FullGc.InduceAsync(pid, ct);
        var before = Snapshot(pid);
        Console.Error.WriteLine($"[idle] opening {total} connections from {procs} processes over {string.Join(',', sources.Select(s => s.ToString()))}");
        var started = Stopwatch.GetTimestamp();
        var workers = new List<Process>();
        var readyLines = new List<string>();
        for (var p = 0; p < procs; p++)
        {
            var share = (total / procs) + (p < total % procs ? 1 : 0);
            var mySources = sources.Where((_, i) => i % procs == p % sources.Length || sources.Length < procs).ToArray();
            if (mySources.Length == 0)
            {
                mySources = sources;
            }

            var psi = new ProcessStartInfo(Environment.ProcessPath!)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            // Under `dotnet Parley.LoadTest.dll` the host is dotnet and the dll comes first; the apphost needs nothing.
            var entry = Environment.GetCommandLineArgs()[0];
            if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" && entry.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            {
                psi.ArgumentList.Add(entry);
            }

            foreach (var a in new[]
            {
                "idle-worker", "--url", target.BaseUrl.ToString(), "--connections", share.ToString(CultureInfo.InvariantCulture),
                "--sources", string.Join(',', mySources.Select(s => s.ToString())), "--tokens", string.Join(',', tokens),
                "--wait-stdin", "true", "--hold", o.Get("hold-max", "300"), "--ping-seconds", o.PingInterval.TotalSeconds.ToString(CultureInfo.InvariantCulture),
            })
            {
                psi.ArgumentList.Add(a);
            }

            workers.Add(Process.Start(psi)!);
        }

        var connected = 0;
        var failed = 0;
        foreach (var w in workers)
        {
            var line = await ReadLineUntilAsync(w, "READY", TimeSpan.FromSeconds(o.Double("connect-timeout", 180)));
            readyLines.Add(line ?? "(no answer)");
            var parts = line?.Split(' ') ?? [];
            if (parts.Length >= 3)
            {
                connected += int.Parse(parts[1], CultureInfo.InvariantCulture);
                failed += int.Parse(parts[2], CultureInfo.InvariantCulture);
            }
        }

        var rampSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        Console.Error.WriteLine($"[idle] {connected} up, {failed} failed in {rampSeconds:F1}s; settling");
        await Task.Delay(TimeSpan.FromSeconds(o.Double("settle", 5)), ct);
        var monitor = new ServerMonitor(pid);
        monitor.Start();
        var hold = o.Double("hold", 20);
        await Task.Delay(TimeSpan.FromSeconds(hold), ct);
        // Memory per connection is read after a full, compacting GC, so it counts live objects and not the
        // allocation budget the GC happened to be holding at that moment.
        // (after the monitor stops, so the induced pause is not counted among the server's own GC pauses).
        var server = await monitor.StopAsync(0);
        var gcInduced = await FullGc.InduceAsync(pid, ct);
        var during = Snapshot(pid);

        var dropped = 0;
        foreach (var w in workers)
        {
            try
            {
                await w.StandardInput.WriteLineAsync("STOP");
                w.StandardInput.Close();
            }
            catch (IOException)
            {
                // The worker is already gone.
            }
            var line = await ReadLineUntilAsync(w, "DONE", TimeSpan.FromSeconds(60));
            if (line?.Split(' ') is { Length: 2 } parts)
            {
                dropped += int.Parse(parts[1], CultureInfo.InvariantCulture);
            }

            if (!w.WaitForExit(10_000))
            {
                w.Kill();
            }

            w.Dispose();
        }

        var n = Math.Max(1, connected);
        var rssDelta = during.Rss - before.Rss;
        var slabDelta = during.Slab - before.Slab;
        var tcpDelta = during.TcpMem - before.TcpMem;
        return new Dictionary<string, object?>
        {
            ["scenario"] = "idle",
            ["label"] = o.Label,
            ["connections"] = connected,
            ["failed"] = Math.Max(failed, total - connected),
            ["droppedWhileIdle"] = dropped,
            ["errors"] = Math.Max(failed, total - connected) + dropped,
            ["generatorProcesses"] = procs,
            ["sources"] = string.Join(',', sources.Select(s => s.ToString())),
            ["rampSeconds"] = Math.Round(rampSeconds, 1),
            ["workerReady"] = readyLines,
            ["serverRssBeforeMB"] = Math.Round(before.Rss / 1048576.0, 1),
            ["serverRssAfterMB"] = Math.Round(during.Rss / 1048576.0, 1),
            ["rssBytesPerConnection"] = rssDelta / n,
            ["slabBytesPerConnection"] = slabDelta / n,
            ["tcpBufferBytesPerConnection"] = tcpDelta / n,
            // Both ends of every loopback connection live in this kernel; the server's share is about half.
            ["serverKernelBytesPerConnectionEstimate"] = (slabDelta + tcpDelta) / 2 / n,
            ["bytesPerConnectionInclKernel"] = (rssDelta + ((slabDelta + tcpDelta) / 2)) / n,
            ["measuredAfterFullGc"] = gcInduced,
            ["holdSeconds"] = hold,
            ["server"] = server,
        };
    }

    private static (long Rss, long Slab, long TcpMem) Snapshot(int? pid) =>
        (pid is { } p ? Proc.RssBytes(p) : 0, Proc.SlabBytes(), Proc.TcpMemBytes());

    private static async Task<string?> ReadLineUntilAsync(Process process, string prefix, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (await process.StandardOutput.ReadLineAsync(cts.Token) is { } line)
            {
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return line;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Timed out.
        }

        return null;
    }

    /// <summary>churn: W workers loop connect → StartConversation → close for the duration.</summary>
    public static async Task<Dictionary<string, object?>> ChurnAsync(Options o, Target target, CancellationToken ct)
    {
        var workers = o.Int("workers", 32);
        var seconds = o.Double("duration", 15);
        var tokens = await target.CreateVisitorsAsync(workers, ct);
        var latency = new Latency();
        var errors = new Errors();
        long cycles = 0;
        var pid = o.ServerPid;
        var rssBefore = pid is { } p0 ? Proc.RssBytes(p0) : 0;
        var monitor = new ServerMonitor(pid);
        monitor.Start();
        var end = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        await Parallel.ForAsync(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = ct }, async (w, c) =>
        {
            while (Stopwatch.GetTimestamp() < end)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await using var client = await target.ConnectVisitorAsync(tokens[w], "churn" + w, null, c);
                    await client.InvokeAsync("StartConversation", Wire.NoArgs, Wire.ReadConversationInfo, CallTimeout);
                    latency.RecordSince(started);
                    Interlocked.Increment(ref cycles);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    errors.Add(ex.GetBaseException().Message);
                }
            }
        });
        var server = await monitor.StopAsync(0);
        await Task.Delay(3000, ct);
        var rssAfter = pid is { } p1 ? Proc.RssBytes(p1) : 0;
        return new Dictionary<string, object?>
        {
            ["scenario"] = "churn",
            ["label"] = o.Label,
            ["workers"] = workers,
            ["durationS"] = seconds,
            ["cycles"] = cycles,
            ["cyclesPerSec"] = Math.Round(cycles / seconds, 1),
            ["errors"] = errors.Total,
            ["errorKinds"] = errors.Snapshot(),
            ["connectAndStartLatencyMs"] = latency.Summary(),
            ["serverRssBeforeMB"] = Math.Round(rssBefore / 1048576.0, 1),
            ["serverRssAfterMB"] = Math.Round(rssAfter / 1048576.0, 1),
            ["server"] = server,
        };
    }

    /// <summary>
    /// reconnect: M visitors, each in its own conversation and receiving live; all M connections are dropped
    /// (TCP abort), K messages per conversation are sent by agents meanwhile, then all M reconnect at once and
    /// Resume with their lastSeq: each must receive exactly the K it missed, then live delivery must continue.
    /// </summary>
    public static async Task<Dictionary<string, object?>> ReconnectAsync(Options o, Target target, CancellationToken ct)
    {
        var m = o.Int("visitors", 1000);
        var missed = o.Int("missed", 5);
        var senderCount = o.Int("senders", 16);
        var errors = new Errors();
        var load = new MessageLoad();

        Console.Error.WriteLine($"[reconnect] {m} visitors, {missed} messages missed each");
        var cookie = await target.LoginAsync(o.Email, o.Password, ct);
        var senders = new HubClient[senderCount];
        for (var i = 0; i < senderCount; i++)
        {
            senders[i] = await target.ConnectAgentAsync(cookie, "sender" + i, null, ct);
        }

        var tokens = await target.CreateVisitorsAsync(m, ct);
        var visitors = new HubClient[m];
        var convs = new Conv[m];
        await Parallel.ForAsync(0, m, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = ct }, async (i, c) =>
        {
            visitors[i] = await target.ConnectVisitorAsync(tokens[i], "v" + i, load.OnEvent, c);
            var info = await visitors[i].InvokeAsync("StartConversation", Wire.NoArgs, Wire.ReadConversationInfo, CallTimeout);
            convs[i] = new Conv(info.Id);
            convs[i].Receivers[visitors[i]] = new SeqTrack(info.LastSeq);
        });
        foreach (var c in convs)
        {
            load.Add(c.Id);
        }

        // The load's own Conv objects are the ones it dispatches to; mirror the receivers into them.
        for (var i = 0; i < m; i++)
        {
            load.Conversations[i].Receivers[visitors[i]] = convs[i].Receivers[visitors[i]];
        }

        await using var keepAlive = new KeepAlive(() => visitors.Concat(senders), o.PingInterval);

        // 1. Live: one message each, delivered live.
        await SendToAllAsync(load, senders, 1, errors, ct);
        await WaitUntilAsync(() => load.Conversations.All(c => c.Receivers.Values.All(r => r.Last >= c.MaxAckSeq)), TimeSpan.FromSeconds(30));
        var lastSeqs = load.Conversations.Select(c => c.Receivers.Values.Single().Last).ToArray();
        var liveOk = load.Conversations.Count(c => c.Receivers.Values.Single().Last == c.MaxAckSeq);

        // 2. Drop every visitor connection (no close handshake), give the server a moment to notice.
        foreach (var v in visitors)
        {
            v.Abort();
        }

        await Task.Delay(1000, ct);

        // 3. Messages they miss.
        await SendToAllAsync(load, senders, missed, errors, ct);
        var finals = load.Conversations.Select(c => c.MaxAckSeq).ToArray();

        // 4. Reconnect storm: all at once, each resumes from its lastSeq.
        var latency = new Latency();
        long replayed = 0, lost = 0, dup = 0, ooo = 0, truncated = 0, resumed = 0;
        var newClients = new HubClient?[m];
        var stormStart = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, m).Select(async i =>
        {
            try
            {
                var client = await target.ConnectVisitorAsync(tokens[i], "v" + i + "b", load.OnEvent, ct);
                newClients[i] = client;
                var conv = load.Conversations[i];
                var track = new SeqTrack(lastSeqs[i]);
                lock (conv.Receivers)
                {
                    conv.Receivers.Remove(visitors[i]);
                }

                var replay = await client.InvokeAsync("Resume", Wire.ResumeArgs(conv.Id, lastSeqs[i]), Wire.ReadReplay, CallTimeout);
                latency.RecordSince(stormStart);
                Interlocked.Increment(ref resumed);
                if (replay.Truncated)
                {
                    Interlocked.Increment(ref truncated);
                }

                // Exactly lastSeq+1 .. final, in order, nothing else.
                var expected = lastSeqs[i] + 1;
                foreach (var msg in replay.Messages)
                {
                    Interlocked.Increment(ref replayed);
                    if (msg.Seq < expected)
                    {
                        Interlocked.Increment(ref dup);
                    }
                    else if (msg.Seq > expected)
                    {
                        Interlocked.Increment(ref ooo);
                        Interlocked.Add(ref lost, msg.Seq - expected);
                        expected = msg.Seq + 1;
                    }
                    else
                    {
                        expected++;
                    }
                }

                if (expected <= finals[i])
                {
                    Interlocked.Add(ref lost, finals[i] - expected + 1);
                }

                // Track live delivery from the replay's end on.
                lock (conv.Receivers)
                {
                    conv.Receivers[client] = new SeqTrack(Math.Max(replay.LastSeq, expected - 1));
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                errors.Add("reconnect: " + ex.GetBaseException().Message);
            }
        }));
        var stormSeconds = Stopwatch.GetElapsedTime(stormStart).TotalSeconds;

        // 5. Live again after the resume: one more each, must arrive as the next seq.
        await SendToAllAsync(load, senders, 1, errors, ct);
        await WaitUntilAsync(() => load.Conversations.All(c => c.Receivers.Values.All(r => r.Last >= c.MaxAckSeq)), TimeSpan.FromSeconds(30));
        var (liveLost, liveDup, liveOoo, _) = load.Verify();
        foreach (var (kind, n) in load.Errors.Snapshot())
        {
            errors.Add(kind, n);
        }

        foreach (var c in newClients)
        {
            if (c is not null)
            {
                await c.DisposeAsync();
            }
        }

        foreach (var s in senders)
        {
            await s.DisposeAsync();
        }

        return new Dictionary<string, object?>
        {
            ["scenario"] = "reconnect",
            ["label"] = o.Label,
            ["visitors"] = m,
            ["missedEach"] = missed,
            ["liveBeforeDropOk"] = liveOk,
            ["resumed"] = resumed,
            ["replayedMessages"] = replayed,
            ["expectedReplayed"] = (long)m * missed,
            ["truncated"] = truncated,
            ["stormSeconds"] = Math.Round(stormSeconds, 2),
            ["reconnectAndResumeLatencyMs"] = latency.Summary(),
            ["lost"] = lost + liveLost,
            ["duplicates"] = dup + liveDup,
            ["outOfOrder"] = ooo + liveOoo,
            ["errors"] = errors.Total + (m - resumed) + truncated,
            ["errorKinds"] = errors.Snapshot(),
        };
    }

    private static async Task SendToAllAsync(MessageLoad load, HubClient[] senders, int perConversation, Errors errors, CancellationToken ct)
    {
        var convs = load.Conversations;
        await Parallel.ForAsync(0, senders.Length, new ParallelOptions { MaxDegreeOfParallelism = senders.Length, CancellationToken = ct }, async (s, _) =>
        {
            for (var i = s; i < convs.Count; i += senders.Length)
            {
                for (var k = 0; k < perConversation; k++)
                {
                    try
                    {
                        var ack = await senders[s].InvokeAsync("Send", Wire.SendArgs(convs[i].Id, Guid.NewGuid(), Wire.Body(Stopwatch.GetTimestamp())), Wire.ReadAck, CallTimeout);
                        convs[i].Acked(ack.Seq);
                    }
                    catch (Exception ex) when (ex is HubErrorException or IOException or TimeoutException)
                    {
                        errors.Add("agent send: " + ex.Message);
                    }
                }
            }
        });
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (!condition() && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(50);
        }
    }
}
