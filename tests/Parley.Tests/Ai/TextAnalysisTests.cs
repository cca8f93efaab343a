using System.Text.Json.Nodes;
using Parley.Server.Features.Ai;

namespace Parley.Tests.Ai;

/// <summary>The offline AI engines as pure logic: analyzer, retrieval, intents, sentiment, takeover and ai eval.</summary>
public sealed class TextAnalysisTests
{
    private static readonly AiEngines Engines = AiEngines.CreateOffline();

    private static string DataFile(string name) => Path.Combine(AppContext.BaseDirectory, "Ai", "Data", name);

    [Fact]
    public void Analyzer_BridgesChineseAndEnglishThroughConcepts()
    {
        var zh = Engines.Analyzer.Analyze("要付邮费吗");
        var en = Engines.Analyzer.Analyze("What's the postage?");
        Assert.Contains("postage", zh.Concepts);
        Assert.Contains("postage", en.Concepts);

        // Chinese without a dictionary: characters and bigrams; English: stems shared by inflections.
        Assert.Contains("b:邮费", zh.Features);
        Assert.Contains("u:邮", zh.Features);
        Assert.Equal(Engines.Analyzer.Analyze("shipping").Features, Engines.Analyzer.Analyze("shipped").Features);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("👍👍🎉")]
    [InlineData("Ünïcödé ｆｕｌｌｗｉｄｔｈ ＡＢＣ 混合 text 123")]
    [InlineData("\u0000\u0007 control")]
    public void Analyzer_AndEveryEngine_TakeOddInputWithoutErrors(string text)
    {
        var analyzed = Engines.Analyzer.Analyze(text);
        _ = Engines.Sentiment.Score(analyzed);
        Assert.Contains(Engines.Intents.Classify(analyzed).Intent, Engines.Intents.Intents);
        _ = Engines.Takeover.Evaluate([analyzed]);
        var index = new KnowledgeIndex(Engines.Analyzer);
        index.Reset([new KnowledgeDocument("a", "退货", [], "7天无理由退货")]);
        Assert.False(new AssistantBrain(index).Decide(text).Answer && analyzed.IsEmpty);
    }

    [Fact]
    public void Analyzer_CutsHugeTextToItsBound()
    {
        var huge = string.Concat(Enumerable.Repeat("退款 refund ", 50_000));
        var analyzed = Engines.Analyzer.Analyze(huge);
        Assert.True(analyzed.Original.Length <= 2000);
        Assert.Contains("refund", analyzed.Concepts);
    }

    [Theory]
    [InlineData("我的钱什么时候退回来", "refund")]
    [InlineData("How long until the money is back on my card?", "refund")]
    [InlineData("你们有发票吗", "invoice")]
    [InlineData("Can I get a tax receipt?", "invoice")]
    [InlineData("忘记登录密码了", "password")]
    public void Retrieval_AnswersChineseAndEnglish_WithTheRightEntry(string question, string expected)
    {
        var brain = new AssistantBrain(SampleIndex());
        var decision = brain.Decide(question);
        Assert.True(decision.Answer, $"handed off ({decision.Reason})");
        Assert.Equal(expected, decision.Match!.Document.Id);
    }

    [Theory]
    [InlineData("你们公司在哪个城市")]
    [InlineData("Someone stole my identity and used my card")]
    [InlineData("What's the weather tomorrow?")]
    public void Retrieval_HandsOff_WhenNoEntryFits(string question) =>
        Assert.False(new AssistantBrain(SampleIndex()).Decide(question).Answer);

    [Theory]
    [InlineData("转人工")]
    [InlineData("人工客服")]
    [InlineData("talk to a human")]
    [InlineData("Can I speak to an agent please")]
    public void Assistant_HandsOff_WhenAskedForAPerson_EvenIfAnEntryMatches(string question)
    {
        var decision = new AssistantBrain(SampleIndex()).Decide(question);
        Assert.False(decision.Answer);
        Assert.Equal("asked_for_person", decision.Reason);
    }

    [Fact]
    public void Retrieval_IsIncremental_AndRespectsTeamsAndEnabled()
    {
        var index = SampleIndex();
        Assert.Equal("invoice", new AssistantBrain(index).Decide("开发票").Match?.Document.Id);

        index.Remove("invoice");
        Assert.NotEqual("invoice", new AssistantBrain(index).Decide("开发票").Match?.Document.Id);

        var sales = Guid.NewGuid();
        index.Upsert(new KnowledgeDocument("invoice", "开发票 / invoices", ["怎么开票"], "在订单页申请电子发票。Request an e-invoice on the order page.", TeamId: sales));
        Assert.Equal("invoice", new AssistantBrain(index).Decide("开发票", new HashSet<Guid> { sales }).Match?.Document.Id);
        Assert.Null(new AssistantBrain(index).Decide("开发票", new HashSet<Guid> { Guid.NewGuid() }).Match);

        index.Upsert(new KnowledgeDocument("invoice", "开发票 / invoices", [], "…", Enabled: false));
        Assert.Null(new AssistantBrain(index).Decide("开发票").Match);
    }

    [Fact]
    public void Synonyms_AddedByAnAdmin_BridgeNewWords()
    {
        var without = new KnowledgeIndex(new TextAnalyzer());
        without.Reset([new KnowledgeDocument("vip", "PLUS会员权益 / PLUS membership perks", [], "PLUS会员享受免运费。PLUS members get free delivery.")]);
        var with = new KnowledgeIndex(new TextAnalyzer(Lexicon.BuiltIn.With([["plus会员", "黑卡", "black card"]])));
        with.Reset([new KnowledgeDocument("vip", "PLUS会员权益 / PLUS membership perks", [], "PLUS会员享受免运费。PLUS members get free delivery.")]);

        Assert.DoesNotContain(without.Analyzer.Analyze("黑卡").Concepts, c => without.Analyzer.Analyze("plus会员").Concepts.Contains(c));
        Assert.Contains(with.Analyzer.Analyze("黑卡").Concepts, c => with.Analyzer.Analyze("plus会员").Concepts.Contains(c));
        Assert.Equal("vip", new AssistantBrain(with).Decide("黑卡有什么好处").Match?.Document.Id);
    }


    [Fact]
    public void NumberTerms_AreFound_InTextWithoutChinese_AsInChineseText_InTheSameOrder()
    {
        // Terms with no Chinese character (hotlines, sale days) are searched for directly in text with no Chinese
        // character, and through every window of the text otherwise: both must find the same concepts, in the order
        // of their first occurrence (a term inside another one after it).
        var analyzer = new TextAnalyzer(Lexicon.BuiltIn.With([["618", "年中大促"], ["1618", "会员日"]]));
        static List<string> Admin(AnalyzedText text) => [.. text.Concepts.Where(c => c.StartsWith("syn", StringComparison.Ordinal))];

        Assert.Equal(["syn1", "syn0"], Admin(analyzer.Analyze("see you on 1618 then")));
        Assert.Equal(["syn1", "syn0"], Admin(analyzer.Analyze("see you on 1618 then 好")));
        Assert.Equal(["syn0"], Admin(analyzer.Analyze("the 618 sale")));
        Assert.Empty(Admin(analyzer.Analyze("the 61 8 sale")));
        Assert.Contains("complain", analyzer.Analyze("I will call 12315 about this").Concepts);
        Assert.Contains("complain", analyzer.Analyze("我要打12315").Concepts);
    }
    [Theory]
    [InlineData("你们的服务太差劲了，我要投诉", "complaint")]
    [InlineData("This is unacceptable, I want to complain to a manager", "complaint")]
    [InlineData("这个吹风机有几档风速", "consult")]
    [InlineData("Does the tablet come with a stylus?", "consult")]
    [InlineData("我们公司想批量采购一百台，能报个价吗", "sales")]
    [InlineData("We'd like volume pricing for 80 seats", "sales")]
    [InlineData("快递一直没到，帮我查一下物流", "after_sales")]
    [InlineData("I want to return the shoes and get a refund", "after_sales")]
    [InlineData("您好", "greeting")]
    [InlineData("Hey there", "greeting")]
    public void Intents_ClassifyBothLanguages(string text, string expected) =>
        Assert.Equal(expected, Engines.Intents.Classify(text).Intent);

    [Fact]
    public void Intents_GiveTheSameScores_WhateverWasClassifiedBefore()
    {
        // The classifier reuses one feature set per thread: nothing of an earlier text may leak into the next one's
        // scores, and a long text must not change what a short one scores after it.
        var fresh = AiEngines.CreateOffline().Intents;
        const string text = "我的订单还没发货，能帮我查一下吗？";
        var first = fresh.Classify(text);
        fresh.Classify(string.Join(' ', Enumerable.Range(0, 3000).Select(i => $"word{i} refund invoice 退款 发票")));
        fresh.Classify("hello, I'd like to cancel my subscription and get a refund");
        var again = fresh.Classify(text);
        Assert.Equal(first.Intent, again.Intent);
        Assert.Equal(first.Confidence, again.Confidence);
        Assert.Equal(first.Scores.OrderBy(s => s.Key, StringComparer.Ordinal), again.Scores.OrderBy(s => s.Key, StringComparer.Ordinal));
        Assert.Equal(fresh.Intents.Count, first.Scores.Count);
        Assert.Equal(1.0, first.Scores.Values.Sum(), 3);
    }

    [Fact]
    public void Intents_LearnAnAdminDefinedIntentFromExamples()
    {
        var engines = AiEngines.CreateOffline(
        [
            new IntentSample("我想预约到店试驾", "test_drive"), new IntentSample("能约个时间试驾吗", "test_drive"), new IntentSample("周末可以试驾吗", "test_drive"),
            new IntentSample("I'd like to book a test drive", "test_drive"), new IntentSample("Can I test drive the SUV on Saturday?", "test_drive"),
            new IntentSample("schedule a test drive for me", "test_drive"),
        ]);
        Assert.Contains("test_drive", engines.Intents.Intents);
        Assert.Equal("test_drive", engines.Intents.Classify("明天能去试驾吗").Intent);
        Assert.Equal("test_drive", engines.Intents.Classify("book me a test drive next week").Intent);
        Assert.Equal("greeting", engines.Intents.Classify("你好").Intent); // the built-in ones still work
    }

    [Fact]
    public void Sentiment_ScoresAngerBelowNeutralAndThanksAbove()
    {
        Assert.True(Engines.Sentiment.Score(Engines.Analyzer.Analyze("你们这是什么垃圾服务！！！")).Score < -0.5);
        Assert.True(Engines.Sentiment.Score(Engines.Analyzer.Analyze("This is RIDICULOUS, worst service ever")).Frustrated);
        Assert.True(Engines.Sentiment.Score(Engines.Analyzer.Analyze("谢谢，很满意")).Score > 0.3);
        Assert.Equal("neutral", Engines.Sentiment.Score(Engines.Analyzer.Analyze("请问几点发货")).Label);
        Assert.True(Engines.Sentiment.Score(Engines.Analyzer.Analyze("not good at all")).Score < 0);
    }

    [Fact]
    public void Takeover_AfterThreeSimilarQuestions_InChineseAndEnglish()
    {
        Assert.Equal("repeated_question", Engines.Takeover.Evaluate(["退款什么时候到账", "退款还没到账", "请问退款什么时候能到账"]).Reason);
        Assert.Equal("repeated_question", Engines.Takeover.Evaluate(["my coupon code is not working", "the coupon code still fails", "coupon code not working at checkout"]).Reason);
    }

    [Fact]
    public void Takeover_NotAfterThreeDifferentQuestions()
    {
        Assert.False(Engines.Takeover.Evaluate(["退款什么时候到账", "你们有实体店吗", "发票怎么开"]).Alert);
        Assert.False(Engines.Takeover.Evaluate(["Do you ship to Canada?", "Is the jacket waterproof?", "Can I pay with PayPal?"]).Alert);
        Assert.False(Engines.Takeover.Evaluate(["有M码吗", "L码呢", "好的谢谢"]).Alert);
    }

    [Fact]
    public void Takeover_OnARequestForAPerson_OrAnger()
    {
        Assert.Equal("asked_for_person", Engines.Takeover.Evaluate(["人工"]).Reason);
        Assert.Equal("asked_for_person", Engines.Takeover.Evaluate(["I want to speak to a real person"]).Reason);
        Assert.Equal("angry", Engines.Takeover.Evaluate(["你们就是骗子，气死我了！！"]).Reason);
    }

    [Fact]
    public void AiEval_PrintsTheSpecifiedShape_ForTheShippedSamples()
    {
        var samples = Path.Combine(FindRepo(), "..", "shared", "ai-samples");
        var faq = File.Exists(Path.Combine(samples, "faq.json")) ? Path.Combine(samples, "faq.json") : DataFile("faq-dev.json");
        var output = new StringWriter();
        var error = new StringWriter();
        var rc = AiEval.Run(["--faq", faq, "--intents", DataFile("intents-dev.jsonl"), "--takeover", DataFile("takeover-dev.jsonl")], output, error);

        Assert.Equal(0, rc);
        var json = JsonNode.Parse(output.ToString())!.AsObject();
        Assert.Equal(["faq", "intents", "takeover"], json.Select(p => p.Key));
        Assert.Equal(["questions", "answerable", "answeredCorrectly", "handedOffWhenUnanswerable", "wrongAnswers"], json["faq"]!.AsObject().Select(p => p.Key));
        Assert.Equal(["messages", "accuracy", "confusion"], json["intents"]!.AsObject().Select(p => p.Key));
        Assert.Equal(["sequences", "precision", "recall"], json["takeover"]!.AsObject().Select(p => p.Key));
        Assert.InRange(json["faq"]!["answeredCorrectly"]!.GetValue<double>(), 0, 1);
    }

    /// <summary>Quality guard on the team's own dev sets (not the shared samples): a change that makes the engines
    /// answer wrongly or stop handing off fails here, before ai eval on unseen cases would show it.</summary>
    [Fact]
    public void AiEval_OnTheDevSets_MeetsTheQualityTargets()
    {
        foreach (var file in new[] { "faq-dev.json", "faq-dev2.json" })
        {
            var faq = AiEval.EvaluateFaq(Engines, File.ReadAllText(DataFile(file)), file);
            Assert.True(faq["answeredCorrectly"]!.GetValue<double>() >= 0.85, $"{file}: {faq.ToJsonString()}");
            Assert.True(faq["handedOffWhenUnanswerable"]!.GetValue<double>() >= 0.8, $"{file}: {faq.ToJsonString()}");
            Assert.True(faq["wrongAnswers"]!.GetValue<double>() <= 0.08, $"{file}: {faq.ToJsonString()}");
        }

        Assert.True(AiEval.EvaluateIntents(Engines, File.ReadAllText(DataFile("intents-dev.jsonl")), "intents")["accuracy"]!.GetValue<double>() >= 0.85);
        var takeover = AiEval.EvaluateTakeover(Engines, File.ReadAllText(DataFile("takeover-dev.jsonl")), "takeover");
        Assert.True(takeover["precision"]!.GetValue<double>() >= 0.8 && takeover["recall"]!.GetValue<double>() >= 0.8, takeover.ToJsonString());
    }

    [Theory]
    [InlineData("--faq", "{\n  \"entries\": [\n    {\"id\": \"a\", \"q\": \"x\"}\n  ]\n}", "line 3")]
    [InlineData("--faq", "{\n  \"entries\": [\n", "line")]
    [InlineData("--intents", "{\"text\":\"hi\",\"intent\":\"greeting\"}\n{\"text\": 5}\n", "line 2")]
    [InlineData("--takeover", "{\"messages\":[\"a\"],\"alert\":true}\n\n{\"messages\":\"a\",\"alert\":true}\n", "line 3")]
    public void AiEval_MalformedFile_ExitsNonZeroWithTheLine(string option, string content, string line)
    {
        var file = Path.Combine(Path.GetTempPath(), $"parley-eval-{Guid.NewGuid():N}.txt");
        File.WriteAllText(file, content);
        try
        {
            var error = new StringWriter();
            var output = new StringWriter();
            Assert.NotEqual(0, AiEval.Run([option, file], output, error));
            Assert.Contains(line, error.ToString(), StringComparison.Ordinal);
            Assert.Equal("", output.ToString());
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static KnowledgeIndex SampleIndex()
    {
        var index = new KnowledgeIndex(Engines.Analyzer, Engines.RetrievalOptions);
        index.Reset(
        [
            new KnowledgeDocument("refund", "退款多久到账 / refund timing", ["退款什么时候到"], "退款审核后3-5个工作日退回原支付方式。Refunds reach your original payment method within 3-5 business days."),
            new KnowledgeDocument("invoice", "开发票 / invoices", [], "在订单页申请电子发票。Request an e-invoice on the order page."),
            new KnowledgeDocument("password", "忘记密码 / reset password", [], "在登录页点“忘记密码”，用短信验证码重置。Use 'Forgot password' on the sign-in page."),
            new KnowledgeDocument("shipping", "发货时间 / when do you ship", [], "现货48小时内发货。In-stock items ship within 48 hours."),
        ]);
        return index;
    }

    private static string FindRepo()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Parley.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? AppContext.BaseDirectory;
    }
}
