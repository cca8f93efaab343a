using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Parley.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Knowledge;

/// <summary>One entry of an import file, checked, with where it stands in the file for error messages.</summary>
public sealed record KnowledgeImportItem(Guid? Id, KnowledgeEntryDraft Draft, int Line, int Row)
{
    public KnowledgeImportException Fail(ErrorCode code, string message) => new(code, message, Line, Row);
}

/// <summary>A refused import: nothing was changed. <see cref="Line"/> is 1-based in the file, <see cref="Row"/> the 1-based entry (CSV: data row).</summary>
public sealed class KnowledgeImportException(ErrorCode error, string message, int? line, int? row) : Exception(message)
{
    public ErrorCode Error { get; } = error;

    public int? Line { get; } = line;

    public int? Row { get; } = row;
}

/// <summary>
/// The JSON and CSV file formats of knowledge-base export and import (docs/api.md, "Knowledge base"). Parsing checks
/// every entry with <see cref="KnowledgeEntryDraft"/>; the first problem throws <see cref="KnowledgeImportException"/>
/// with its line, so a file is taken whole or not at all.
/// </summary>
public static class KnowledgeTransfer
{
    public const int MaxImportBytes = 16 * 1024 * 1024;
    public const string CsvContentType = "text/csv";
    public static readonly string[] CsvColumns = ["id", "teamId", "question", "variants", "answer", "language", "tags", "enabled"];

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static byte[] ToJson(IEnumerable<KnowledgeEntry> entries) =>
        JsonSerializer.SerializeToUtf8Bytes(new KnowledgeExport(1, entries.Select(KnowledgeExportEntry.From).ToList()), Json);

    /// <summary>UTF-8 with a byte-order mark (spreadsheet programs need it for Chinese), CRLF rows, RFC 4180 quoting.</summary>
    public static byte[] ToCsv(IEnumerable<KnowledgeEntry> entries)
    {
        var text = new StringBuilder();
        text.Append(string.Join(',', CsvColumns)).Append("\r\n");
        foreach (var e in entries)
        {
            string[] cells =
            [
                e.Id.ToString(), e.TeamId?.ToString() ?? "", e.Question, string.Join(KnowledgeEntryDraft.ListSeparator, e.Variants), e.Answer, e.Language ?? "",
                string.Join(KnowledgeEntryDraft.ListSeparator, e.Tags), e.Enabled ? "true" : "false",
            ];
            text.Append(string.Join(',', cells.Select(CsvCells.Quote))).Append("\r\n");
        }

        return [.. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetBytes(text.ToString())];
    }

    /// <summary>
    /// A JSON import: the export's <c>{"entries": [...]}</c> or a bare array of entries. Unknown members are ignored
    /// (an export's timestamps among them).
    /// </summary>
    public static List<KnowledgeImportItem> ParseJson(ReadOnlySpan<byte> utf8)
    {
        if (utf8.StartsWith(Encoding.UTF8.Preamble))
        {
            utf8 = utf8[Encoding.UTF8.Preamble.Length..];
        }

        var lineStarts = LineStarts(utf8);
        var items = new List<KnowledgeImportItem>();
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        try
        {
            if (!reader.Read())
            {
                throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, "The file is empty.", 1, null);
            }

            if (reader.TokenType == JsonTokenType.StartObject)
            {
                var found = false;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("entries"u8))
                    {
                        reader.Read();
                        ReadArray(ref reader, items, lineStarts);
                        found = true;
                    }
                    else
                    {
                        reader.Read();
                        reader.Skip();
                    }
                }

                if (!found)
                {
                    throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, "Expected an array of entries or an object with \"entries\".", LineOf(lineStarts, reader.TokenStartIndex), null);
                }
            }
            else
            {
                ReadArray(ref reader, items, lineStarts);
            }

            if (reader.Read())
            {
                throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, "Unexpected content after the entries.", LineOf(lineStarts, reader.TokenStartIndex), null);
            }
        }
        catch (JsonException ex)
        {
            throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, "The file is not valid JSON: " + FirstSentence(ex.Message), (int)(ex.LineNumber ?? 0) + 1, items.Count + 1);
        }

        return items;
    }

    /// <summary>
    /// A CSV import: a header row naming at least question and answer (any order; the export's columns), then one
    /// entry per record. Quoted cells may hold commas, quotes ("") and line breaks. A leading byte-order mark is skipped.
    /// </summary>
    public static List<KnowledgeImportItem> ParseCsv(string text)
    {
        if (text.StartsWith('\uFEFF'))
        {
            text = text[1..];
        }

        var records = ReadCsv(text);
        if (records.Count == 0 || records[0].Cells.All(string.IsNullOrWhiteSpace))
        {
            throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, "The file has no header row.", 1, null);
        }

        var header = records[0].Cells.Select(c => c.Trim()).ToList();
        var columns = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < header.Count; i++)
        {
            if (!CsvColumns.Contains(header[i], StringComparer.OrdinalIgnoreCase))
            {
                throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, $"Unknown column \"{header[i]}\"; the columns are {string.Join(", ", CsvColumns)}.", 1, null);
            }

            if (!columns.TryAdd(header[i], i))
            {
                throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, $"The column \"{header[i]}\" appears twice.", 1, null);
            }
        }

        if (!columns.ContainsKey("question") || !columns.ContainsKey("answer"))
        {
            throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, "The header must name the question and answer columns.", 1, null);
        }

        var items = new List<KnowledgeImportItem>();
        foreach (var (cells, line) in records.Skip(1))
        {
            if (cells.Count == 1 && cells[0].Length == 0)
            {
                continue; // a blank line
            }

            var row = items.Count + 1;
            if (cells.Count != header.Count)
            {
                throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, $"The row has {cells.Count} cells; the header has {header.Count}.", line, row);
            }

            string? Cell(string name) => columns.TryGetValue(name, out var i) ? cells[i] : null;
            try
            {
                var id = ParseGuid(Cell("id"), "id");
                var team = ParseGuid(Cell("teamId"), "teamId");
                var enabled = Cell("enabled")?.Trim().ToLowerInvariant() switch
                {
                    null or "" or "true" or "1" or "yes" => true,
                    "false" or "0" or "no" => false,
                    _ => throw KnowledgeEntryDraft.Invalid("enabled is true or false."),
                };
                var draft = KnowledgeEntryDraft.Create(team, Cell("question"), Split(Cell("variants")), Cell("answer"), Cell("language"), Split(Cell("tags")), enabled);
                items.Add(new KnowledgeImportItem(id, draft, line, row));
            }
            catch (ParleyException ex)
            {
                throw new KnowledgeImportException(ex.Error, ex.Message, line, row);
            }
        }

        return items;
    }

    private static void ReadArray(ref Utf8JsonReader reader, List<KnowledgeImportItem> items, List<int> lineStarts)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, "Expected an array of entries.", LineOf(lineStarts, reader.TokenStartIndex), null);
        }

        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var line = LineOf(lineStarts, reader.TokenStartIndex);
            var row = items.Count + 1;
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, "Each entry is a JSON object.", line, row);
            }

            KnowledgeExportEntry? entry;
            try
            {
                entry = JsonSerializer.Deserialize<KnowledgeExportEntry>(ref reader, Json);
            }
            catch (JsonException ex)
            {
                throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, "The entry is malformed: " + FirstSentence(ex.Message), ex.LineNumber is { } at ? (int)at + 1 : line, row);
            }

            try
            {
                var draft = KnowledgeEntryDraft.Create(entry!.TeamId, entry.Question, entry.Variants, entry.Answer, entry.Language, entry.Tags, entry.Enabled ?? true);
                items.Add(new KnowledgeImportItem(entry.Id, draft, line, row));
            }
            catch (ParleyException ex)
            {
                throw new KnowledgeImportException(ex.Error, ex.Message, line, row);
            }
        }
    }

    private static List<int> LineStarts(ReadOnlySpan<byte> utf8)
    {
        var starts = new List<int> { 0 };
        for (var i = 0; i < utf8.Length; i++)
        {
            if (utf8[i] == (byte)'\n')
            {
                starts.Add(i + 1);
            }
        }

        return starts;
    }

    private static int LineOf(List<int> lineStarts, long offset)
    {
        var index = lineStarts.BinarySearch((int)offset);
        return (index >= 0 ? index : ~index - 1) + 1;
    }

    /// <summary>RFC 4180 records with the line each starts on; a quote that never closes is a malformed file.</summary>
    private static List<(List<string> Cells, int Line)> ReadCsv(string text)
    {
        var records = new List<(List<string>, int)>();
        var cells = new List<string>();
        var cell = new StringBuilder();
        var (line, recordLine) = (1, 1);
        var i = 0;
        var quotedCell = false;
        while (i < text.Length)
        {
            var c = text[i];
            if (c == '"' && cell.Length == 0 && !quotedCell)
            {
                // A quoted cell: up to the closing quote, "" is one quote, line breaks are part of the cell.
                quotedCell = true;
                var start = line;
                i++;
                while (true)
                {
                    if (i >= text.Length)
                    {
                        throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, "A quoted cell is never closed.", start, null);
                    }

                    if (text[i] == '"')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '"')
                        {
                            cell.Append('"');
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    if (text[i] == '\n')
                    {
                        line++;
                    }

                    cell.Append(text[i++]);
                }

                if (i < text.Length && text[i] is not (',' or '\r' or '\n'))
                {
                    throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, "Text after a closing quote; quotes inside a cell are written twice (\"\").", line, null);
                }

                continue;
            }

            if (c == ',')
            {
                cells.Add(cell.ToString());
                cell.Clear();
                quotedCell = false;
                i++;
                continue;
            }

            if (c is '\r' or '\n')
            {
                cells.Add(cell.ToString());
                cell.Clear();
                quotedCell = false;
                records.Add((cells, recordLine));
                cells = [];
                i += c == '\r' && i + 1 < text.Length && text[i + 1] == '\n' ? 2 : 1;
                line++;
                recordLine = line;
                continue;
            }

            if (c == '"')
            {
                throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportInvalid, "A quote inside an unquoted cell; quote the cell and write the quote twice (\"\").", line, null);
            }

            cell.Append(c);
            i++;
        }

        if (cell.Length > 0 || cells.Count > 0 || quotedCell)
        {
            cells.Add(cell.ToString());
            records.Add((cells, recordLine));
        }

        return records;
    }

    private static string[] Split(string? cell) =>
        string.IsNullOrWhiteSpace(cell) ? [] : cell.Split(KnowledgeEntryDraft.ListSeparator);

    private static Guid? ParseGuid(string? cell, string field)
    {
        if (string.IsNullOrWhiteSpace(cell))
        {
            return null;
        }

        return Guid.TryParse(cell.Trim(), CultureInfo.InvariantCulture, out var id) ? id : throw KnowledgeEntryDraft.Invalid($"{field} is not a UUID.");
    }

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(". ", StringComparison.Ordinal);
        return end < 0 ? message : message[..(end + 1)];
    }
}

/// <summary>The JSON export (and import) document.</summary>
public sealed record KnowledgeExport(int Version, List<KnowledgeExportEntry> Entries);

/// <summary>One entry in the JSON file. On import only question and answer are required.</summary>
public sealed record KnowledgeExportEntry
{
    public Guid? Id { get; init; }

    public Guid? TeamId { get; init; }

    public string? Question { get; init; }

    public List<string?>? Variants { get; init; }

    public string? Answer { get; init; }

    public string? Language { get; init; }

    public List<string?>? Tags { get; init; }

    public bool? Enabled { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTime? UpdatedAt { get; init; }

    public static KnowledgeExportEntry From(KnowledgeEntry e) => new()
    {
        Id = e.Id,
        TeamId = e.TeamId,
        Question = e.Question,
        Variants = [.. e.Variants],
        Answer = e.Answer,
        Language = e.Language,
        Tags = [.. e.Tags],
        Enabled = e.Enabled,
        UpdatedAt = e.UpdatedAt,
    };
}
