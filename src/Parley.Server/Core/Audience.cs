namespace Parley.Server.Core;

/// <summary>Which side of a conversation a caller is on: it decides numbering (visitors never see notes) and visibility.</summary>
public enum Audience
{
    Visitor,
    Agent,
}
