using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Parley.Data;
using Parley.Server;
using Parley.Server.Core;
using Parley.Server.Features.Access;
using Parley.Server.Features.Console;
using Parley.Server.Features.Reports;

namespace Parley.Benchmarks;

/// <summary>
/// #18's scale bench: seeds N conversations (M messages each) into a fresh SQLite file or PostgreSQL database by bulk
/// insert (COPY on PostgreSQL), builds the hourly rollups, then times a 30-day all-departments summary (rollups and
/// exact facts) and history search (two-character and longer Chinese, an English word, an agent sandboxed to one
/// department). Prints a Markdown table.
///   Parley.Benchmarks report-scale --store sqlite|postgres [--conversations 100000] [--messages 10] [--runs 30]
///     [--dir /tmp/parley-reportbench] [--pg "Host=127.0.0.1;Username=postgres;Password=..."] [--db parley_reportbench]
/// </summary>
public static class ReportScaleBench
{
    private const int Days = 90;
    private const int Teams = 10;
    private const int AgentsPerTeam = 10;
    private const int Chunk = 10_000;

    private static readonly string[] Phrases =
    [
        "你好，我想问一下退款的进度", "请问物流信息什么时候更新", "我的订单还没有发货", "可以开发票吗", "快递显示已签收但是我没收到",
        "谢谢你的帮助", "这个商品有优惠券吗", "地址写错了能改吗", "请帮我查一下订单号", "退货需要自己付运费吗",
        "Hello, where is my parcel?", "I need an invoice for order", "Can I change the delivery address?", "the tracking number does not work",
        "refund please, the item arrived broken", "thanks for your help", "is there a discount code", "customs held my package",
        "客服在吗", "好的明白了", "我要投诉", "会员积分怎么用", "The app keeps crashing when I pay", "how long does shipping take to Shanghai",
    ];

    public static async Task RunAsync(string[] args)
    {
        var o = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            o[args[i].TrimStart('-')] = args[i + 1];
        }

        var store = o.GetValueOrDefault("store", "sqlite");
        // --reuse 1: keep the database a previous run seeded (same --db / --dir) and time the searches again.
        var reuse = o.GetValueOrDefault("reuse") == "1";
        var conversations = int.Parse(o.GetValueOrDefault("conversations", "100000"), CultureInfo.InvariantCulture);
        var perConversation = int.Parse(o.GetValueOrDefault("messages", "10"), CultureInfo.InvariantCulture);
        var runs = int.Parse(o.GetValueOrDefault("runs", "30"), CultureInfo.InvariantCulture);
        var settings = new Dictionary<string, string?>
        {
            ["Parley:Bootstrap:AdminEmail"] = "admin@bench.local",
            ["Parley:Bootstrap:AdminPassword"] = "Correct-Horse-9",
            ["Parley:Bootstrap:SiteKey"] = "bench",
            ["Parley:Bootstrap:RequirePasswordChange"] = "false",
            ["Parley:Reports:RollupIntervalSeconds"] = "3600", // the bench drives the passes itself
            ["Parley:Console:SearchIndexIntervalSeconds"] = "3600", // the search indexer too
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Microsoft.EntityFrameworkCore"] = "Error",
            ["Logging:LogLevel:Microsoft.AspNetCore.StaticFiles"] = "Error",
            ["Logging:LogLevel:Microsoft.EntityFrameworkCore.Database.Command"] = "None", // migrations probe missing tables on purpose
            ["urls"] = "http://127.0.0.1:0",
        };
        if (store == "postgres")
        {
            var admin = new NpgsqlConnectionStringBuilder(o.GetValueOrDefault("pg", "Host=127.0.0.1;Port=5432;Username=postgres;Password=parley-ci"));
            var database = o.GetValueOrDefault("db", "parley_reportbench");
            await using (var c = new NpgsqlConnection(admin.ConnectionString))
            {
                await c.OpenAsync();
                await using var cmd = c.CreateCommand();
                cmd.CommandText = reuse ? "SELECT 1" : $"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE); CREATE DATABASE \"{database}\";";
                await cmd.ExecuteNonQueryAsync();
            }

            admin.Database = database;
            settings["Parley:Database:Provider"] = "postgres";
            settings["Parley:Database:ConnectionString"] = admin.ConnectionString;
        }
        else
        {
            var dir = o.GetValueOrDefault("dir", Path.Combine(Path.GetTempPath(), "parley-reportbench"));
            if (!reuse && Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }

            Directory.CreateDirectory(dir);
            settings["Parley:Database:Provider"] = "sqlite";
            settings["Parley:Database:DataDirectory"] = dir;
        }

        var app = ParleyApp.Create([], b => b.Configuration.AddInMemoryCollection(settings));
        await app.StartAsync();
        try
        {
            await RunOnAsync(app, store, conversations, perConversation, runs, reuse);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private static async Task RunOnAsync(WebApplication app, string store, int conversations, int perConversation, int runs, bool reuse)
    {
        var pg = store == "postgres";
        var random = new Random(18);
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var site = await db.Sites.Select(s => s.Id).FirstAsync();
        var adminId = await db.Users.Where(u => u.Email == "admin@bench.local").Select(u => u.Id).FirstAsync();
        var end = new DateTime(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc);
        var start = end.AddDays(-Days);

        var teams = new List<Guid>();
        var agents = new List<(Guid Id, Guid Team)>();
        long messageId = 0;
        TimeSpan seeded = default, rolled = default;
        var hours = 0;
        var rollupRows = 0;
        if (reuse)
        {
            for (var t = 0; t < Teams; t++)
            {
                for (var a = 0; a < AgentsPerTeam; a++)
                {
                    var email = $"agent{t}-{a}@bench.local";
                    var member = await db.Users.Where(u => u.Email == email).Join(db.TeamMembers, u => u.Id, m => m.UserId, (u, m) => new { u.Id, m.TeamId }).FirstAsync();
                    agents.Add((member.Id, member.TeamId));
                }
            }

            messageId = await db.Messages.MaxAsync(m => m.Id);
            rollupRows = await db.ReportRollups.CountAsync();
        }
        else
        {
            // Departments, each with its agents (and one supervisor for the first).
            for (var t = 0; t < Teams; t++)
            {
                var team = new Team { Id = Guid.CreateVersion7(), Name = $"Team {t}", CreatedAt = start };
                db.Teams.Add(team);
                teams.Add(team.Id);
                for (var a = 0; a < AgentsPerTeam; a++)
                {
                    var email = $"agent{t}-{a}@bench.local";
                    var user = new User { Id = Guid.CreateVersion7(), Email = email, NormalizedEmail = email.ToUpperInvariant(), DisplayName = $"Agent {t}-{a}", PasswordHash = "-", SecurityStamp = Guid.NewGuid().ToString("N"), Role = a == 0 ? UserRole.Supervisor : UserRole.Agent, CreatedAt = start };
                    db.Users.Add(user);
                    db.TeamMembers.Add(new TeamMember { TeamId = team.Id, UserId = user.Id });
                    agents.Add((user.Id, team.Id));
                }
            }

            await db.SaveChangesAsync();
            db.ChangeTracker.Clear();

            var seed = Stopwatch.StartNew();
            if (!pg)
            {
                // A page cache the size of the hot indexes, for the seed's connection only (the server's stay as configured).
                await db.Database.OpenConnectionAsync();
                await db.Database.ExecuteSqlRawAsync("PRAGMA cache_size = -1048576;");
            }

            var bulk = new BulkInsert(db, pg);
            for (var done = 0; done < conversations; done += Chunk)
            {
                var contacts = new List<Contact>();
                var rows = new List<Conversation>();
                var facts = new List<ConversationFacts>();
                var messages = new List<Message>();
                var ratings = new List<ConversationRating>();
                for (var i = done; i < Math.Min(conversations, done + Chunk); i++)
                {
                    var created = start.AddSeconds(random.NextDouble() * Days * 86400);
                    var agent = agents[random.Next(agents.Count)];
                    var assigned = random.Next(8) == 0 ? (DateTime?)null : created.AddSeconds(random.Next(1, 600));
                    var replied = assigned?.AddSeconds(random.Next(1, 900));
                    var closed = created > end.AddHours(-2) && random.Next(2) == 0 ? (DateTime?)null : (replied ?? created).AddSeconds(random.Next(60, 7200));
                    var contact = new Contact { Id = Guid.CreateVersion7(), SiteId = site, Name = $"访客 {i}", CreatedAt = created, LastSeenAt = created };
                    var c = new Conversation
                    {
                        Id = Guid.CreateVersion7(),
                        SiteId = site,
                        ContactId = contact.Id,
                        TeamId = random.Next(20) == 0 ? null : agent.Team,
                        AssigneeId = assigned is null ? null : agent.Id,
                        Status = closed is null ? ConversationStatus.Open : ConversationStatus.Closed,
                        CreatedAt = created,
                        UpdatedAt = closed ?? created,
                        ClosedAt = closed,
                        AssignedAt = assigned,
                        LastSeq = perConversation,
                        LastVisitorSeq = perConversation,
                    };
                    contacts.Add(contact);
                    rows.Add(c);
                    facts.Add(new ConversationFacts
                    {
                        ConversationId = c.Id,
                        SiteId = site,
                        TeamId = c.TeamId,
                        AssigneeId = c.AssigneeId,
                        CreatedAt = created,
                        FirstQueuedAt = created,
                        FirstAssignedAt = assigned,
                        FirstVisitorMessageAt = created,
                        FirstResponseAt = replied,
                        ClosedAt = closed,
                        MessagesIn = perConversation / 2,
                        MessagesOut = perConversation - (perConversation / 2),
                        Abandoned = closed is not null && random.Next(20) == 0,
                        CsatScore = closed is not null && random.Next(4) == 0 ? random.Next(1, 6) : null,
                        UpdatedAt = closed ?? created,
                    });
                    if (facts[^1].CsatScore is { } score)
                    {
                        // A third of the ratings carry a comment (the CSAT report lists the newest).
                        ratings.Add(new ConversationRating
                        {
                            ConversationId = c.Id,
                            ContactId = contact.Id,
                            Score = score,
                            Comment = random.Next(3) == 0 ? Phrases[random.Next(Phrases.Length)] : null,
                            CreatedAt = closed!.Value.AddSeconds(random.Next(5, 600)),
                        });
                    }

                    for (var m = 0; m < perConversation; m++)
                    {
                        var visitor = m % 2 == 0;
                        messages.Add(new Message
                        {
                            Id = ++messageId,
                            ConversationId = c.Id,
                            Seq = m + 1,
                            ClientId = Guid.CreateVersion7(), // time-ordered, so the seed appends to the (ClientId, ConversationId) index
                            SenderKind = visitor ? SenderKind.Visitor : SenderKind.Agent,
                            SenderId = visitor ? null : c.AssigneeId,
                            Kind = MessageKind.Text,
                            // One message in 40,000 also holds a rare two-character word (a needle for the index).
                            Body = Phrases[random.Next(Phrases.Length)] + (random.Next(3) == 0 ? " #" + random.Next(100000) : "") + ((messageId + 1) % 40_000 == 0 ? " 鲸鱼" : ""),
                            CreatedAt = created.AddSeconds(m * 20),
                        });
                    }
                }

                await bulk.InsertAsync(contacts);
                await bulk.InsertAsync(rows);
                await bulk.InsertAsync(facts);
                await bulk.InsertAsync(ratings);
                await bulk.InsertAsync(messages);
                Console.Error.Write($"\rseeded {Math.Min(conversations, done + Chunk):N0} conversations, {messageId:N0} messages, {seed.Elapsed.TotalSeconds:F0} s");
            }

            Console.Error.WriteLine();
            await db.Database.ExecuteSqlRawAsync(pg ? "ANALYZE;" : "ANALYZE;");
            seeded = seed.Elapsed;

            var roll = Stopwatch.StartNew();
            await ReportRollupMaterialiser.MarkAllAsync(db, default);
            var materialiser = app.Services.GetRequiredService<ReportRollupMaterialiser>();
            hours = 0;
            for (int n; (n = await materialiser.RunOnceAsync(default)) > 0;)
            {
                hours += n;
            }

            rolled = roll.Elapsed;
            rollupRows = await db.ReportRollups.CountAsync();
            await db.Database.ExecuteSqlRawAsync("ANALYZE;");
        }

        // History search's bigram index, built by its indexer from watermark 0 (what an upgraded install does).
        var indexing = Stopwatch.StartNew();
        await app.Services.GetRequiredService<MessageSearchIndexer>().CatchUpAsync(default);
        var indexed = indexing.Elapsed;
        await db.Database.ExecuteSqlRawAsync("ANALYZE;");
        long indexBytes;
        try
        {
            indexBytes = pg
                ? await db.Database.SqlQueryRaw<long>("""SELECT pg_total_relation_size('"MessageSearchGrams"') AS "Value" """).SingleAsync()
                : await db.Database.SqlQueryRaw<long>("""SELECT coalesce(sum(length("block")), 0) AS "Value" FROM "MessageSearchFts_data" """).SingleAsync();
        }
        catch (DbException)
        {
            indexBytes = -1;
        }

        var access = scope.ServiceProvider.GetRequiredService<AccessPolicy>();
        var fromRollups = new ReportService(db, access, Options.Create(new ReportsOptions { UseRollups = true }));
        var exact = new ReportService(db, access, Options.Create(new ReportsOptions { UseRollups = false }));
        var request = new ReportRequest(DateOnly.FromDateTime(end.AddDays(-30)).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), DateOnly.FromDateTime(end.AddDays(-1)).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), "Asia/Shanghai");
        var adminActor = Actor.Agent(adminId, "admin");
        var supervisor = agents[0].Id;
        var results = new List<(string Name, List<double> Ms, string Note)>();
        async Task TimeAsync(string name, int n, Func<Task<string>> run)
        {
            // Each measurement starts from a collected heap, so the garbage of the one before (the exact-facts
            // summary allocates hundreds of MB) is not collected inside it; its own collections still count.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var note = await run(); // warm-up
            var ms = new List<double>();
            for (var i = 0; i < n; i++)
            {
                var sw = Stopwatch.StartNew();
                note = await run();
                ms.Add(sw.Elapsed.TotalMilliseconds);
            }

            results.Add((name, ms, note));
        }

        await TimeAsync("30-day summary, all departments, rollups", runs, async () => $"created {(await fromRollups.SummaryAsync(adminActor, request, default)).Metrics.Created:N0}");
        await TimeAsync("30-day summary, one supervisor's department, rollups", runs, async () => $"created {(await fromRollups.SummaryAsync(Actor.Agent(supervisor, "sup"), request, default)).Metrics.Created:N0}");
        await TimeAsync("30-day summary, all departments, exact facts (before)", Math.Max(3, runs / 6), async () => $"created {(await exact.SummaryAsync(adminActor, request, default)).Metrics.Created:N0}");
        await TimeAsync("30-day time series by day, all departments, rollups", runs, async () => $"{(await fromRollups.TimeSeriesAsync(adminActor, request, "day", default)).Points.Count} days");
        await TimeAsync("30-day time series by day, one supervisor's department, rollups", runs, async () => $"{(await fromRollups.TimeSeriesAsync(Actor.Agent(supervisor, "sup"), request, "day", default)).Points.Count} days");
        await TimeAsync("30-day time series by day, all departments, exact facts (before)", Math.Max(3, runs / 6), async () => $"{(await exact.TimeSeriesAsync(adminActor, request, "day", default)).Points.Count} days");
        await TimeAsync("30-day breakdown by department, all departments, rollups", runs, async () => $"{(await fromRollups.BreakdownAsync(adminActor, request, "department", default)).Rows.Count} rows");
        await TimeAsync("30-day breakdown by agent, all departments, rollups", runs, async () => $"{(await fromRollups.BreakdownAsync(adminActor, request, "agent", default)).Rows.Count} rows");
        await TimeAsync("30-day breakdown by agent, one supervisor's department, rollups", runs, async () => $"{(await fromRollups.BreakdownAsync(Actor.Agent(supervisor, "sup"), request, "agent", default)).Rows.Count} rows");
        await TimeAsync("30-day breakdown by agent, all departments, exact facts (before)", Math.Max(3, runs / 6), async () => $"{(await exact.BreakdownAsync(adminActor, request, "agent", default)).Rows.Count} rows");
        await TimeAsync("30-day response times, all departments, rollups", runs, async () => $"{(await fromRollups.ResponseTimesAsync(adminActor, request, default)).FirstResponse.Count:N0} first responses");
        await TimeAsync("30-day CSAT with comments, all departments, rollups", runs, async () => $"{(await fromRollups.CsatAsync(adminActor, request, default)).Comments.Count} comments");

        // The Reports page's five requests, as the console sends them at once (docs/reports.md).
        await TimeAsync("Reports page: its five requests, all departments", runs, async () =>
        {
            await fromRollups.SummaryAsync(adminActor, request, default);
            await fromRollups.TimeSeriesAsync(adminActor, request, "day", default);
            await fromRollups.ResponseTimesAsync(adminActor, request, default);
            await fromRollups.CsatAsync(adminActor, request, default);
            return $"{(await fromRollups.BreakdownAsync(adminActor, request, "agent", default)).Rows.Count} agents";
        });

        var search = scope.ServiceProvider.GetRequiredService<MessageSearch>();
        ClaimsPrincipal Principal(Guid id) => new(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, id.ToString()), new Claim(ClaimTypes.Name, "bench")], "bench"));
        var agentInOneTeam = agents[1].Id;
        foreach (var (label, q, who) in new[]
        {
            ("search 2-char Chinese 退款, admin", "退款", adminId), ("search longer Chinese 物流信息, admin", "物流信息", adminId),
            ("search English invoice, admin", "invoice", adminId), ("search rare token #4242, admin", "#4242", adminId),
            ("search 2-char Chinese 退款, agent in one department", "退款", agentInOneTeam), ("search English invoice, agent in one department", "invoice", agentInOneTeam),
            ("search longer Chinese 物流信息, agent in one department", "物流信息", agentInOneTeam), ("search mixed Chinese/English 订单号 #1, agent in one department", "订单号 #1", agentInOneTeam),
            ("search rare 2-char Chinese 鲸鱼, admin", "鲸鱼", adminId), ("search rare 2-char Chinese 鲸鱼, agent in one department", "鲸鱼", agentInOneTeam),
        })
        {
            await TimeAsync(label, runs, async () => $"{(await search.SearchAsync(Principal(who), q, null, null, default)).Items.Count} hits on page 1");
        }

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"store {store}: {conversations:N0} conversations, {messageId:N0} messages over {Days} days, {Teams} departments x {AgentsPerTeam} agents; seeded in {seeded.TotalSeconds:F0} s; rollups: {hours:N0} hours -> {rollupRows:N0} rows in {rolled.TotalSeconds:F1} s; search index: {messageId:N0} messages in {indexed.TotalSeconds:F0} s ({messageId / Math.Max(indexed.TotalSeconds, 0.001):N0} messages/s), {indexBytes / 1048576.0:N0} MiB ({indexBytes / 1048576.0 / Math.Max(messageId / 1e6, 1e-6):N0} MiB per million messages)");
        md.AppendLine();
        md.AppendLine("| measurement | runs | p50 ms | p99 ms | max ms | result |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var (name, ms, note) in results)
        {
            ms.Sort();
            double P(double p) => ms[Math.Clamp((int)Math.Ceiling(p * ms.Count) - 1, 0, ms.Count - 1)];
            md.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {ms.Count} | {P(0.5):F1} | {P(0.99):F1} | {ms[^1]:F1} | {note} |");
        }

        Console.WriteLine(md.ToString());
    }

    /// <summary>Bulk insert of whole entities through EF Core's model (columns and value conversions): COPY on PostgreSQL, one prepared INSERT in a transaction on SQLite.</summary>
    private sealed class BulkInsert(ParleyDbContext db, bool pg)
    {
        public async Task InsertAsync<T>(List<T> rows)
            where T : class
        {
            var entity = db.Model.FindEntityType(typeof(T))!;
            var table = entity.GetTableName()!;
            var storeObject = Microsoft.EntityFrameworkCore.Metadata.StoreObjectIdentifier.Table(table, entity.GetSchema());
            var columns = entity.GetProperties().Where(p => p.PropertyInfo is not null).Select(p => (Name: p.GetColumnName(storeObject)!, Property: p)).ToList();
            object? Value(Microsoft.EntityFrameworkCore.Metadata.IProperty p, T row)
            {
                var raw = p.PropertyInfo!.GetValue(row);
                if (raw is not null && p.GetTypeMapping().Converter is { } converter)
                {
                    raw = converter.ConvertToProvider(raw);
                }

                return raw switch
                {
                    Enum e => Convert.ToInt32(e, CultureInfo.InvariantCulture),
                    Guid g when !pg => g.ToString().ToUpperInvariant(),
                    _ => raw,
                };
            }

            var connection = db.Database.GetDbConnection();
            if (connection.State != System.Data.ConnectionState.Open)
            {
                await db.Database.OpenConnectionAsync();
            }

            var names = string.Join(", ", columns.Select(c => $"\"{c.Name}\""));
            if (connection is NpgsqlConnection npgsql)
            {
                await using var writer = await npgsql.BeginBinaryImportAsync($"COPY \"{table}\" ({names}) FROM STDIN (FORMAT BINARY)");
                foreach (var row in rows)
                {
                    await writer.StartRowAsync();
                    foreach (var (_, property) in columns)
                    {
                        if (Value(property, row) is { } v)
                        {
                            await writer.WriteAsync(v);
                        }
                        else
                        {
                            await writer.WriteNullAsync();
                        }
                    }
                }

                await writer.CompleteAsync();
                return;
            }

            var sqlite = (SqliteConnection)connection;
            await using var tx = (SqliteTransaction)await sqlite.BeginTransactionAsync();
            await using var cmd = sqlite.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = $"INSERT INTO \"{table}\" ({names}) VALUES ({string.Join(", ", columns.Select((_, i) => "@p" + i))})";
            var parameters = columns.Select((_, i) => cmd.Parameters.Add(new SqliteParameter { ParameterName = "@p" + i })).ToArray();
            foreach (var row in rows)
            {
                for (var i = 0; i < columns.Count; i++)
                {
                    parameters[i].Value = Value(columns[i].Property, row) ?? DBNull.Value;
                }

                await cmd.ExecuteNonQueryAsync();
            }

            await tx.CommitAsync();
        }
    }
}
