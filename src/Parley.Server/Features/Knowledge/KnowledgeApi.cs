using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Knowledge;

public sealed record KnowledgeEntryDto(
    Guid Id, Guid? TeamId, string Question, IReadOnlyList<string> Variants, string Answer, string? Language, IReadOnlyList<string> Tags, bool Enabled, DateTime CreatedAt, DateTime UpdatedAt, Guid? UpdatedBy)
{
    public static KnowledgeEntryDto From(KnowledgeEntry e) =>
        new(e.Id, e.TeamId, e.Question, [.. e.Variants], e.Answer, e.Language, [.. e.Tags], e.Enabled, e.CreatedAt, e.UpdatedAt, e.UpdatedBy);
}

/// <param name="TeamId">The department it answers for; null for every department (admins only).</param>
/// <param name="Question">1 to 500 characters.</param>
/// <param name="Variants">Other phrasings, each at most 500 characters, at most 50; blanks and duplicates are dropped.</param>
/// <param name="Answer">Plain text, 1 to 4000 characters; write links as plain URLs.</param>
/// <param name="Language">BCP 47 tag (en, zh-CN); null for any language.</param>
/// <param name="Tags">At most 20 labels of at most 64 characters.</param>
/// <param name="Enabled">Default true.</param>
public sealed record KnowledgeEntryRequest(string? Question, string? Answer, List<string>? Variants = null, string? Language = null, List<string>? Tags = null, Guid? TeamId = null, bool? Enabled = null);

public sealed record KnowledgeImportResult(int Created, int Updated);

public sealed record KnowledgeSynonymDto(Guid Id, IReadOnlyList<string> Terms, DateTime UpdatedAt)
{
    public static KnowledgeSynonymDto From(KnowledgeSynonym s) => new(s.Id, [.. s.Terms], s.UpdatedAt);
}

/// <param name="Groups">Every synonym group; each is a list of interchangeable terms (groups of fewer than two terms are dropped).</param>
public sealed record KnowledgeSynonymsRequest(List<List<string>>? Groups);

public sealed record IntentExampleDto(Guid Id, string Intent, string Text, Guid? CreatedBy, DateTime CreatedAt, long? MessageId)
{
    public static IntentExampleDto From(IntentExample x) => new(x.Id, x.Intent, x.Text, x.CreatedBy, x.CreatedAt, x.MessageId);
}

/// <param name="Intent">Lower-case snake_case, at most 64 characters (ask_price).</param>
/// <param name="Text">1 to 1000 characters.</param>
/// <param name="MessageId">The message relabelled, when this is an agent's correction.</param>
public sealed record IntentExampleRequest(string? Intent, string? Text, long? MessageId = null);

/// <summary>The knowledge base over REST: entries, synonyms, intent examples, JSON and CSV export and import.</summary>
public static class KnowledgeApi
{
    public static IEndpointRouteBuilder MapKnowledgeApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/knowledge").WithTags("Knowledge base").RequireAuthorization(ParleyClaims.AgentPolicy).WithParleyErrors();
        api.MapGet("/", ListAsync).WithName("ListKnowledgeEntries")
            .WithSummary("Knowledge-base entries you may see, newest first")
            .WithDescription("Filters: q (text in question, variants, answer or tags, case-insensitive), tag (exact, case-insensitive), teamId, allDepartments (true: only entries for every department; false: only departmental ones), enabled, language. Agents and supervisors see their departments' entries and those for every department. Pass nextCursor back as cursor for the next page.");
        api.MapGet("/{id:guid}", GetAsync).WithName("GetKnowledgeEntry").WithSummary("One knowledge-base entry");
        api.MapPost("/", CreateAsync).WithName("CreateKnowledgeEntry").RequireAuthorization(ParleyClaims.SupervisorPolicy)
            .WithSummary("Create an entry (supervisors: for their departments; admins: any, or every department)")
            .WithDescription("400 knowledge_invalid names the field that is empty, too long or malformed. Audited.");
        api.MapPut("/{id:guid}", UpdateAsync).WithName("UpdateKnowledgeEntry").RequireAuthorization(ParleyClaims.SupervisorPolicy)
            .WithSummary("Replace an entry's fields")
            .WithDescription("Same body and rules as CreateKnowledgeEntry; an omitted enabled keeps it enabled. Audited with before and after.");
        api.MapPost("/{id:guid}/enable", EnableAsync).WithName("EnableKnowledgeEntry").RequireAuthorization(ParleyClaims.SupervisorPolicy)
            .WithSummary("Let the bot and copilot use the entry again");
        api.MapPost("/{id:guid}/disable", DisableAsync).WithName("DisableKnowledgeEntry").RequireAuthorization(ParleyClaims.SupervisorPolicy)
            .WithSummary("Keep the entry but stop answering from it");
        api.MapDelete("/{id:guid}", DeleteAsync).WithName("DeleteKnowledgeEntry").RequireAuthorization(ParleyClaims.SupervisorPolicy)
            .WithSummary("Delete an entry (audited)");

        api.MapGet("/export/json", ExportJsonAsync).WithName("ExportKnowledgeJson").RequireAuthorization(ParleyClaims.SupervisorPolicy)
            .WithSummary("Every entry you may see as a JSON file")
            .WithDescription("{\"version\": 1, \"entries\": [{id, teamId, question, variants, answer, language, tags, enabled, updatedAt}]}; ImportKnowledgeJson takes it back.")
            .Produces(StatusCodes.Status200OK, contentType: "application/json");
        api.MapGet("/export/csv", ExportCsvAsync).WithName("ExportKnowledgeCsv").RequireAuthorization(ParleyClaims.SupervisorPolicy)
            .WithSummary("Every entry you may see as a CSV file (UTF-8 with BOM)")
            .WithDescription("Columns id, teamId, question, variants, answer, language, tags, enabled; variants and tags separated by '|'.")
            .Produces(StatusCodes.Status200OK, contentType: KnowledgeTransfer.CsvContentType);
        api.MapPost("/import/json", ImportJsonAsync).WithName("ImportKnowledgeJson").RequireAuthorization(ParleyClaims.SupervisorPolicy)
            .WithSummary("Import entries from JSON, all or nothing")
            .WithDescription("The body is the export's document or a bare array of entries (question and answer required). An entry whose id exists replaces it; others are created. The first bad entry refuses the whole file with 400 knowledge_import_invalid (or knowledge_invalid for a field, knowledge_import_too_large over 10,000 entries or 16 MiB, forbidden for a department you may not change) and `line` and `row`; nothing is changed. Audited per entry.")
            .Accepts<KnowledgeExport>("application/json");
        api.MapPost("/import/csv", ImportCsvAsync).WithName("ImportKnowledgeCsv").RequireAuthorization(ParleyClaims.SupervisorPolicy)
            .WithSummary("Import entries from CSV, all or nothing")
            .WithDescription("UTF-8 (a BOM is skipped), a header row with the export's columns in any order (question and answer required), RFC 4180 quoting. Same rules and errors as ImportKnowledgeJson; `line` is the line the bad record starts on.")
            .Accepts<string>(KnowledgeTransfer.CsvContentType);

        api.MapGet("/synonyms", ListSynonymsAsync).WithName("ListKnowledgeSynonyms").WithSummary("The synonym groups retrieval expands queries with");
        api.MapPut("/synonyms", ReplaceSynonymsAsync).WithName("ReplaceKnowledgeSynonyms").RequireAuthorization(ParleyClaims.AdminPolicy)
            .WithSummary("Replace every synonym group (admin; audited)")
            .WithDescription("Terms are 1 to 100 characters, at most 50 per group and 2,000 groups; blank terms, duplicates and groups of one are dropped.");

        api.MapGet("/intent-examples", ListIntentExamplesAsync).WithName("ListIntentExamples").RequireAuthorization(ParleyClaims.SupervisorPolicy)
            .WithSummary("Labelled examples the intent classifier trains on, newest first")
            .WithDescription("Filter: intent. Pass nextCursor back as cursor for the next page.");
        api.MapPost("/intent-examples", CreateIntentExampleAsync).WithName("CreateIntentExample")
            .WithSummary("Add a labelled example (any console user: an agent's correction names the messageId)")
            .WithDescription("400 intent_example_invalid for a malformed intent or text; 404 message_not_found for a message you may not see.");
        api.MapDelete("/intent-examples/{id:guid}", DeleteIntentExampleAsync).WithName("DeleteIntentExample").RequireAuthorization(ParleyClaims.SupervisorPolicy)
            .WithSummary("Remove a labelled example");
        return app;
    }

    internal static async Task<Ok<Page<KnowledgeEntryDto>>> ListAsync(
        KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken, string? q = null, string? tag = null, Guid? teamId = null, bool? allDepartments = null, bool? enabled = null, string? language = null, string? cursor = null, int limit = 50) =>
        TypedResults.Ok(await service.ListAsync(user, new KnowledgeFilter(q, tag, teamId, allDepartments, enabled, language), cursor, limit, cancellationToken));

    internal static async Task<Ok<KnowledgeEntryDto>> GetAsync(Guid id, KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.GetAsync(user, id, cancellationToken));

    internal static async Task<Created<KnowledgeEntryDto>> CreateAsync(KnowledgeEntryRequest request, KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var entry = await service.CreateAsync(user, request, cancellationToken);
        return TypedResults.Created($"/api/v1/knowledge/{entry.Id}", entry);
    }

    internal static async Task<Ok<KnowledgeEntryDto>> UpdateAsync(Guid id, KnowledgeEntryRequest request, KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.UpdateAsync(user, id, request, cancellationToken));

    internal static async Task<Ok<KnowledgeEntryDto>> EnableAsync(Guid id, KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.SetEnabledAsync(user, id, true, cancellationToken));

    internal static async Task<Ok<KnowledgeEntryDto>> DisableAsync(Guid id, KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.SetEnabledAsync(user, id, false, cancellationToken));

    internal static async Task<NoContent> DeleteAsync(Guid id, KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await service.DeleteAsync(user, id, cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<FileContentHttpResult> ExportJsonAsync(KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.File(KnowledgeTransfer.ToJson(await service.ExportAsync(user, cancellationToken)), "application/json", "knowledge.json");

    internal static async Task<FileContentHttpResult> ExportCsvAsync(KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.File(KnowledgeTransfer.ToCsv(await service.ExportAsync(user, cancellationToken)), "text/csv; charset=utf-8", "knowledge.csv");

    internal static Task<Results<Ok<KnowledgeImportResult>, ProblemHttpResult>> ImportJsonAsync(HttpRequest request, KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        ImportAsync(request, service, user, "json", body => KnowledgeTransfer.ParseJson(body), cancellationToken);

    internal static Task<Results<Ok<KnowledgeImportResult>, ProblemHttpResult>> ImportCsvAsync(HttpRequest request, KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        ImportAsync(request, service, user, "csv", body => KnowledgeTransfer.ParseCsv(StrictUtf8.GetString(body)), cancellationToken);

    internal static async Task<Ok<List<KnowledgeSynonymDto>>> ListSynonymsAsync(KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.ListSynonymsAsync(user, cancellationToken));

    internal static async Task<Ok<List<KnowledgeSynonymDto>>> ReplaceSynonymsAsync(KnowledgeSynonymsRequest request, KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.ReplaceSynonymsAsync(user, request, cancellationToken));

    internal static async Task<Ok<Page<IntentExampleDto>>> ListIntentExamplesAsync(KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken, string? intent = null, string? cursor = null, int limit = 50) =>
        TypedResults.Ok(await service.ListIntentExamplesAsync(user, intent, cursor, limit, cancellationToken));

    internal static async Task<Created<IntentExampleDto>> CreateIntentExampleAsync(IntentExampleRequest request, KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var example = await service.CreateIntentExampleAsync(user, request, cancellationToken);
        return TypedResults.Created($"/api/v1/knowledge/intent-examples/{example.Id}", example);
    }

    internal static async Task<NoContent> DeleteIntentExampleAsync(Guid id, KnowledgeService service, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await service.DeleteIntentExampleAsync(user, id, cancellationToken);
        return TypedResults.NoContent();
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static async Task<Results<Ok<KnowledgeImportResult>, ProblemHttpResult>> ImportAsync(
        HttpRequest request, KnowledgeService service, ClaimsPrincipal user, string format, Func<byte[], List<KnowledgeImportItem>> parse, CancellationToken cancellationToken)
    {
        try
        {
            var body = await ReadBodyAsync(request, cancellationToken);
            List<KnowledgeImportItem> items;
            try
            {
                items = parse(body);
            }
            catch (DecoderFallbackException)
            {
                throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, "The file is not UTF-8 text.", null, null);
            }

            return TypedResults.Ok(await service.ImportAsync(user, format, items, cancellationToken));
        }
        catch (KnowledgeImportException ex)
        {
            var extensions = new Dictionary<string, object?> { ["code"] = ex.Error.Code };
            if (ex.Line is { } line)
            {
                extensions["line"] = line;
            }

            if (ex.Row is { } row)
            {
                extensions["row"] = row;
            }

            var where = ex.Row is { } r ? $"Entry {r}" + (ex.Line is { } l ? $" (line {l})" : "") + ": " : ex.Line is { } l2 ? $"Line {l2}: " : "";
            return TypedResults.Problem(detail: where + ex.Message, statusCode: ex.Error.Status, title: "The import was refused; nothing was changed.", extensions: extensions);
        }
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > KnowledgeTransfer.MaxImportBytes)
        {
            throw TooLarge();
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > KnowledgeTransfer.MaxImportBytes)
            {
                throw TooLarge();
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static KnowledgeImportException TooLarge() =>
        new(ErrorCatalogue.KnowledgeImportTooLarge, $"An import file is at most {KnowledgeTransfer.MaxImportBytes / (1024 * 1024)} MiB.", null, null);
}
