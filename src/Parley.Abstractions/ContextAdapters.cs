namespace Parley.Adapters;

/// <summary>What an adapter knows about the customer it is asked about.</summary>
/// <param name="Id">Parley's contact id.</param>
/// <param name="ExternalId">The customer's id in your systems, when the site identified them.</param>
/// <param name="Name">Display name.</param>
/// <param name="Email">E-mail address.</param>
/// <param name="Phone">Phone number.</param>
/// <param name="Attributes">Custom attributes (string values; other JSON values as JSON text).</param>
public sealed record ContactInfo(Guid Id, string? ExternalId, string? Name, string? Email, string? Phone, IReadOnlyDictionary<string, string> Attributes);

/// <summary>One labelled value on a card.</summary>
/// <param name="Label">Label, e.g. "Total".</param>
/// <param name="Value">Value, e.g. "59.90 EUR".</param>
public sealed record ContextField(string Label, string Value);

/// <summary>A card in the console's context panel: an order, a ticket, a subscription, ...</summary>
/// <param name="Source">Name of the adapter that produced it.</param>
/// <param name="Title">Headline, e.g. "Order A-1001".</param>
/// <param name="Subtitle">Second line, e.g. a date.</param>
/// <param name="Status">Short status badge, e.g. "shipped".</param>
/// <param name="Url">Link to the record in your system.</param>
/// <param name="Fields">Further labelled values.</param>
public sealed record ContextCard(string Source, string Title, string? Subtitle, string? Status, string? Url, IReadOnlyList<ContextField> Fields);

/// <summary>
/// A system Parley queries on demand when an agent opens a conversation (orders, CRM, tickets). Implement it
/// for a custom integration and register it with the server's services; the built-in generic HTTP adapter covers
/// JSON APIs through configuration alone.
/// </summary>
public interface IContextAdapter
{
    /// <summary>Unique name, shown as the cards' source.</summary>
    string Name { get; }

    /// <summary>Cards for one contact; an empty list when the system knows nothing about them.</summary>
    /// <param name="contact">The customer.</param>
    /// <param name="cancellationToken">Cancelled when the caller's time budget is spent.</param>
    /// <returns>The cards, most relevant first.</returns>
    Task<IReadOnlyList<ContextCard>> QueryAsync(ContactInfo contact, CancellationToken cancellationToken);
}
