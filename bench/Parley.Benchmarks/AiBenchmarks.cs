using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using Parley.Server.Features.Ai;

namespace Parley.Benchmarks;

/// <summary>
/// The offline AI engines on one core: retrieval over a 10,000-entry knowledge base, and the per-message work that
/// runs after each visitor message is committed (intent + sentiment + takeover over the conversation's newest
/// messages). Run: dotnet run -c Release --project bench/Parley.Benchmarks -- --filter '*AiBenchmarks*'
/// </summary>
[Config(typeof(PercentileConfig))]
public class AiBenchmarks
{
    private static readonly string[] Questions =
    [
        "下单后多久能发货", "How soon will my order ship?", "退款什么时候到账", "Can I return shoes that don't fit?",
        "发票怎么开", "Do you ship to Canada?", "忘记密码怎么办", "Is the blender dishwasher safe?",
    ];

    private AiEngines _engines = null!;
    private AssistantBrain _brain = null!;
    private string[] _conversation = null!;
    private int _next;

    [Params(10_000)]
    public int Entries { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _engines = AiEngines.CreateOffline();
        var index = new KnowledgeIndex(_engines.Analyzer, _engines.RetrievalOptions);
        index.Reset(SyntheticEntries(Entries));
        _brain = new AssistantBrain(index);
        _conversation = ["你好", "我的退款怎么还没到", "退款到底什么时候到账", "I asked three times, where is my refund??"];
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var measured = new KnowledgeIndex(_engines.Analyzer, _engines.RetrievalOptions);
        measured.Reset(SyntheticEntries(Entries));
        var after = GC.GetTotalMemory(forceFullCollection: true);
        Console.WriteLine($"// index memory for {Entries} entries: {(after - before) / 1024.0 / 1024.0:F1} MiB");
        GC.KeepAlive(measured);
    }

    [Benchmark]
    public AssistantDecision Retrieve() => _brain.Decide(Questions[_next++ % Questions.Length]);

    /// <summary>The analysis every committed visitor message gets, on an English line and on a Chinese one.</summary>
    [Benchmark]
    [Arguments("Hi, my order from last week still hasn't shipped, can you check the tracking number for me?")]
    [Arguments("你好，我上周下的订单还没有发货，能帮我查一下物流单号吗？")]
    public AnalyzedText Analyze(string text) => _engines.Analyzer.Analyze(text);

    [Benchmark]
    public TakeoverSignal ClassifyScoreAndCheckTakeover()
    {
        var text = _conversation[_next++ % _conversation.Length];
        var analyzed = _engines.Analyzer.Analyze(text);
        _ = _engines.Intents.Classify(analyzed);
        _ = _engines.Sentiment.Score(analyzed);
        return _engines.Takeover.Evaluate(_conversation);
    }

    /// <summary>Distinct entries built from a bilingual topic x object x aspect grid, like a large real FAQ.</summary>
    private static IEnumerable<KnowledgeDocument> SyntheticEntries(int count)
    {
        string[] topics = ["退货", "退款", "发货", "运费", "发票", "保修", "安装", "维修", "换货", "优惠券", "积分", "会员", "支付", "分期", "密码", "账号"];
        string[] topicsEn = ["returns", "refunds", "shipping", "postage", "invoices", "warranty", "installation", "repairs", "exchanges", "coupons", "points", "membership", "payment", "installments", "password", "account"];
        string[] things = ["手机", "电脑", "耳机", "冰箱", "洗衣机", "空调", "沙发", "床垫", "台灯", "鞋子", "外套", "相机", "平板", "手表", "音箱", "路由器", "净水器", "吸尘器", "电饭煲", "咖啡机"];
        string[] thingsEn = ["phone", "laptop", "headphones", "fridge", "washer", "air conditioner", "sofa", "mattress", "lamp", "shoes", "jacket", "camera", "tablet", "watch", "speaker", "router", "water filter", "vacuum", "rice cooker", "coffee maker"];
        string[] aspects = ["多久", "怎么申请", "需要什么", "费用", "规则", "流程", "时间", "条件", "地点", "进度", "材料", "限制", "方式", "说明", "例外", "政策", "问题", "注意事项", "截止", "上门", "电话", "网点", "额度", "次数", "期限", "范围", "资格", "证明", "押金", "补偿", "标准", "退回"];
        var n = 0;
        foreach (var aspect in aspects)
        {
            foreach (var (thing, i) in things.Select((t, i) => (t, i)))
            {
                foreach (var (topic, j) in topics.Select((t, j) => (t, j)))
                {
                    if (n++ >= count)
                    {
                        yield break;
                    }

                    yield return new KnowledgeDocument(
                        $"e{n}",
                        $"{thing}{topic}{aspect} / {thingsEn[i]} {topicsEn[j]}",
                        [$"{thing}的{topic}{aspect}是什么", $"{topicsEn[j]} for my {thingsEn[i]}"],
                        $"{thing}{topic}的{aspect}请见说明，第{n}条。See rule {n} for {topicsEn[j]} of a {thingsEn[i]}.");
                }
            }
        }
    }

    private sealed class PercentileConfig : BenchmarkDotNet.Configs.ManualConfig
    {
        public PercentileConfig() => AddColumn(StatisticColumn.P95, StatisticColumn.Max);
    }
}
