using Parley.Server;

var app = ParleyApp.Create(args);
await app.RunAsync();

/// <summary>Entry point; everything is wired in <see cref="ParleyApp"/>.</summary>
public partial class Program;
