using System.Text.RegularExpressions;
using Parley.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Knowledge;

/// <summary>
/// A knowledge entry as a client sent it, checked and normalised: the one validation the REST endpoints and both
/// import formats share. Failures are <c>knowledge_invalid</c> (400) naming the field.
/// </summary>
public sealed partial record KnowledgeEntryDraft(Guid? TeamId, string Question, List<string> Variants, string Answer, string? Language, List<string> Tags, bool Enabled)
{
    /// <summary>Separates variants and tags in CSV cells, so neither may contain it.</summary>
    public const char ListSeparator = '|';

    public static KnowledgeEntryDraft From(KnowledgeEntryRequest request) =>
        Create(request.TeamId, request.Question, request.Variants, request.Answer, request.Language, request.Tags, request.Enabled ?? true);

    public static KnowledgeEntryDraft Create(Guid? teamId, string? question, IEnumerable<string?>? variants, string? answer, string? language, IEnumerable<string?>? tags, bool enabled)
    {
        var q = question?.Trim() ?? "";
        if (q.Length == 0)
        {
            throw Invalid("question is required.");
        }

        if (q.Length > KnowledgeEntry.MaxQuestionLength)
        {
            throw Invalid($"question is at most {KnowledgeEntry.MaxQuestionLength} characters.");
        }

        TextInput.Require(q, "question");

        var a = answer?.Trim() ?? "";
        if (a.Length == 0)
        {
            throw Invalid("answer is required.");
        }

        if (a.Length > KnowledgeEntry.MaxAnswerLength)
        {
            throw Invalid($"answer is at most {KnowledgeEntry.MaxAnswerLength} characters.");
        }

        TextInput.Require(a, "answer", multiline: true);

        var variantList = CleanList(variants, "variants", KnowledgeEntry.MaxVariantLength, KnowledgeEntry.MaxVariants, StringComparer.Ordinal);
        variantList.RemoveAll(v => string.Equals(v, q, StringComparison.Ordinal));
        var tagList = CleanList(tags, "tags", KnowledgeEntry.MaxTagLength, KnowledgeEntry.MaxTags, StringComparer.OrdinalIgnoreCase);
        return new KnowledgeEntryDraft(teamId, q, variantList, a, CanonicalLanguage(language), tagList, enabled);
    }

    public void ApplyTo(KnowledgeEntry entry)
    {
        entry.TeamId = TeamId;
        entry.Question = Question;
        entry.Variants = [.. Variants];
        entry.Answer = Answer;
        entry.Language = Language;
        entry.Tags = [.. Tags];
        entry.Enabled = Enabled;
    }

    /// <summary>
    /// BCP 47 in its usual case (<c>zh-cn</c> → <c>zh-CN</c>, <c>zh-hans</c> → <c>zh-Hans</c>); null or blank means any
    /// language.
    /// </summary>
    public static string? CanonicalLanguage(string? language)
    {
        var value = language?.Trim();
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (value.Length > KnowledgeEntry.MaxLanguageLength || !LanguagePattern().IsMatch(value))
        {
            throw Invalid("language is a BCP 47 tag such as en, zh-CN or zh-Hans.");
        }

        var parts = value.Replace('_', '-').Split('-');
        for (var i = 0; i < parts.Length; i++)
        {
            parts[i] = i == 0 ? parts[i].ToLowerInvariant()
                : parts[i].Length == 2 && char.IsAsciiLetter(parts[i][0]) ? parts[i].ToUpperInvariant()
                : parts[i].Length == 4 && char.IsAsciiLetter(parts[i][0]) ? char.ToUpperInvariant(parts[i][0]) + parts[i][1..].ToLowerInvariant()
                : parts[i].ToLowerInvariant();
        }

        return string.Join('-', parts);
    }

    public static ParleyException Invalid(string message) => new(ErrorCatalogue.KnowledgeInvalid, message);

    private static List<string> CleanList(IEnumerable<string?>? items, string field, int maxLength, int maxCount, StringComparer comparer)
    {
        var result = new List<string>();
        var seen = new HashSet<string>(comparer);
        foreach (var raw in items ?? [])
        {
            var item = raw?.Trim();
            if (string.IsNullOrEmpty(item))
            {
                continue;
            }

            if (item.Length > maxLength)
            {
                throw Invalid($"each of {field} is at most {maxLength} characters.");
            }

            if (item.Contains(ListSeparator, StringComparison.Ordinal))
            {
                throw Invalid($"{field} may not contain '{ListSeparator}' (it separates them in CSV).");
            }

            TextInput.Require(item, field);
            if (seen.Add(item))
            {
                result.Add(item);
            }
        }

        if (result.Count > maxCount)
        {
            throw Invalid($"at most {maxCount} {field}.");
        }

        return result;
    }

    [GeneratedRegex("^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$", RegexOptions.CultureInvariant)]
    private static partial Regex LanguagePattern();
}
