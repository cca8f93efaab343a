namespace Parley.Server.Infrastructure;

/// <summary>RFC 4180 cells for the CSV files Parley writes.</summary>
public static class CsvCells
{
    /// <summary>Quotes a cell that holds a comma, quote or line break, or starts or ends with white space.</summary>
    public static string Quote(string cell) =>
        cell.AsSpan().IndexOfAny(",\"\r\n") >= 0 || (cell.Length > 0 && (char.IsWhiteSpace(cell[0]) || char.IsWhiteSpace(cell[^1])))
            ? "\"" + cell.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""
            : cell;

    /// <summary>
    /// A cell for a file that people open in a spreadsheet and never import back: text that a spreadsheet would read as
    /// a formula (it starts with <c>=</c>, <c>+</c>, <c>-</c>, <c>@</c>, tab or carriage return, OWASP "CSV injection")
    /// gets a leading apostrophe, so a visitor's name such as <c>=HYPERLINK(...)</c> stays text.
    /// </summary>
    public static string Safe(string? cell)
    {
        var text = cell ?? "";
        return Quote(text.Length > 0 && text[0] is '=' or '+' or '-' or '@' or '\t' or '\r' ? "'" + text : text);
    }
}
