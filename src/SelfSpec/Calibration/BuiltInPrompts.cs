namespace SelfSpec.Calibration;

/// <summary>
/// The built-in calibration prompts (architecture.md 6: no dataset needed): a mixed set of chat, translation, summarization,
/// question answering, math and code requests, written for this project and interleaved by task so that any prefix
/// of the list is still mixed. None comes from the Spec-Bench questions the benchmark uses.
/// </summary>
internal static class BuiltInPrompts
{
    private static readonly string[] Topics =
    [
        "learning to cook at home", "a weekend trip to the mountains", "keeping houseplants alive", "starting to run in the morning",
        "saving money on groceries", "working from home", "learning a second language", "building a small garden",
        "taking better photos with a phone", "getting better sleep", "visiting a museum with children", "writing a diary",
        "adopting a rescue dog", "riding a bicycle to work", "organizing a birthday party", "reading more books",
        "planning a camping trip", "volunteering in a community", "moving to a new city", "learning to play the guitar",
        "preparing for a job interview", "reducing screen time", "baking bread", "exploring a local market", "making new friends as an adult",
    ];

    private static readonly string[] ChatTemplates =
    [
        "Write a short blog post about {0}.",
        "Give me five practical tips for {0}.",
        "What are the benefits and drawbacks of {0}? Answer in a few paragraphs.",
        "Write a friendly email to a colleague describing your experience with {0}.",
    ];

    private static readonly string[] Sentences =
    [
        "The train to the coast leaves every morning at seven o'clock.",
        "My grandmother grows tomatoes, beans and herbs in her small garden.",
        "We should meet next week to discuss the budget for the new project.",
        "The museum is closed on Mondays, but it opens late on Fridays.",
        "Please remember to turn off the lights when you leave the office.",
        "The weather was cold and rainy, so we stayed inside and played cards.",
        "Our teacher explained the history of the old bridge in the town center.",
        "I would like to book a table for four people at eight in the evening.",
        "The children were excited because it was the first snow of the winter.",
        "After the long meeting, everyone went for a walk along the river.",
        "The new library has thousands of books and a quiet room for studying.",
        "He forgot his umbrella at the station and got wet on the way home.",
    ];

    private static readonly string[] Languages = ["French", "German", "Spanish", "Italian", "Portuguese"];

    private static readonly string[] Paragraphs =
    [
        "The town council met on Tuesday evening to discuss plans for a new public park on the site of the old factory. " +
        "Residents spoke in favor of more green space, playgrounds and a small pond, while some shop owners worried about parking. " +
        "The council agreed to publish three designs next month and to hold a public vote before the end of the year. " +
        "Construction could begin next spring if funding from the regional government is approved.",
        "Researchers at a university studied how much time teenagers spend on their phones and how it affects their sleep. " +
        "They followed two hundred students for six months and found that those who used their phones after ten in the evening " +
        "slept forty minutes less on average. The students who put their phones in another room reported feeling more rested " +
        "and did slightly better in their exams. The researchers recommend a simple evening routine without screens.",
        "A small bakery in the city center has become famous for its sourdough bread. The owner, who learned to bake from her father, " +
        "starts work at four in the morning and uses only flour, water and salt. Customers line up before the shop opens, and the bread " +
        "is often sold out by noon. This year the bakery began offering weekend classes, which filled up within days.",
        "The company announced that it will move to a four-day working week for a trial period of six months. Employees will keep " +
        "their full salary but are expected to finish their work in fewer hours. Managers will measure productivity, customer " +
        "satisfaction and staff well-being. If the results are positive, the change may become permanent next year.",
        "Heavy rain caused flooding in several villages along the river over the weekend. Roads were closed and some families had to " +
        "leave their homes for a night. Volunteers filled sandbags and helped older residents move their belongings upstairs. " +
        "The water began to fall on Monday, and officials say they will review the flood defenses before the autumn.",
        "A new study suggests that walking for thirty minutes a day can lower the risk of heart disease. The study followed " +
        "ten thousand adults over ten years. People who walked regularly had fewer heart problems, even if they did no other exercise. " +
        "Doctors say that small changes, such as taking the stairs or walking to the shop, can make a real difference.",
        "The city library will celebrate its hundredth anniversary with a week of events. There will be readings by local writers, " +
        "a history exhibition with old photographs, and activities for children. The library started in a single room above a " +
        "post office and now has four branches. Entry to all events is free, but some workshops require booking.",
        "Farmers in the region are trying new ways to save water during dry summers. Some have installed drip irrigation, which " +
        "delivers water directly to the roots of plants, while others are planting crops that need less water. A local cooperative " +
        "shares equipment and advice among its members. Early results show that water use fell by a quarter without smaller harvests.",
    ];

    private static readonly string[] Questions =
    [
        "Why is the sky blue?", "How do vaccines help the body fight disease?", "What causes the seasons on Earth?",
        "How does a refrigerator keep food cold?", "What is the difference between weather and climate?",
        "Why do leaves change color in autumn?", "How do airplanes stay in the air?", "What is photosynthesis?",
        "How does the internet send information from one computer to another?", "Why do we need to sleep?",
        "What is inflation in economics?", "How are rainbows formed?", "What does the heart do in the human body?",
        "Why does ice float on water?", "What is the role of bees in agriculture?", "How does a battery store energy?",
        "What were the main causes of the Industrial Revolution?", "How do tides work?", "What is a black hole?",
        "Why is exercise good for mental health?", "How does recycling help the environment?", "What is the water cycle?",
        "How do muscles grow stronger?", "What is democracy?", "Why do some animals hibernate?",
    ];

    private static readonly string[] MathTemplates =
    [
        "A shop sells pencils for {0} cents each. Maria buys {1} pencils and pays with a {2} dollar bill. How much change does she get? Solve step by step.",
        "A train travels {3} kilometers in {4} hours. What is its average speed? If it keeps the same speed, how far does it travel in {1} hours? Explain your reasoning.",
        "Tom has {5} apples. He gives {1} apples to each of his {4} friends. How many apples does he have left? Show your work.",
        "A rectangle has a length of {3} meters and a width of {1} meters. What are its area and its perimeter? Solve step by step.",
        "A class has {5} students. {0} percent of them walk to school. How many students walk to school, and how many do not? Explain.",
    ];

    private static readonly string[] CodeTasks =
    [
        "Write a Python function that checks whether a string is a palindrome.",
        "Write a Python function that returns the n-th Fibonacci number, and explain how it works.",
        "Write a JavaScript function that removes duplicate values from an array.",
        "Write a Python function that counts how many times each word appears in a text.",
        "Write a C# method that reverses the words in a sentence.",
        "Write a Python function that sorts a list of dictionaries by a given key.",
        "Write a SQL query that finds the ten customers with the highest total order value.",
        "Write a Python class for a simple bank account with deposit and withdraw methods.",
        "Write a function in Python that merges two sorted lists into one sorted list.",
        "Write a Python script that reads a CSV file and prints the average of one column.",
        "Explain what a hash table is and write a short example in Python.",
        "Write a JavaScript function that debounces another function.",
        "Write a Python function that checks whether a number is prime.",
        "Write a Java method that computes the factorial of a number recursively.",
        "Write a Python function that converts a temperature from Celsius to Fahrenheit and back.",
    ];

    /// <summary>The prompts as user messages (the chat template is applied by the caller), interleaved by task.</summary>
    public static IReadOnlyList<(string Task, string Text)> All { get; } = Build();

    private static List<(string Task, string Text)> Build()
    {
        var tasks = new List<List<(string, string)>>
        {
            Topics.SelectMany((t, i) => new[] { string.Format(ChatTemplates[i % ChatTemplates.Length], t), string.Format(ChatTemplates[(i + 2) % ChatTemplates.Length], t) })
                .Select(s => ("chat", s)).ToList(),
            Sentences.SelectMany((s, i) => new[] { Languages[i % Languages.Length], Languages[(i + 2) % Languages.Length] }
                .Select(lang => ("translation", $"Translate the following sentence into {lang}: \"{s}\""))).ToList(),
            Paragraphs.SelectMany(p => new[]
            {
                ("summarization", $"Summarize the following text in two sentences.\n\n{p}"),
                ("summarization", $"Read the text below and list its three most important points.\n\n{p}"),
                ("qa", $"{p}\n\nBased on the text above, what happens next and why?"),
            }).ToList(),
            Questions.Select(q => ("qa", q)).ToList(),
            Enumerable.Range(0, 20).Select(i => ("math", string.Format(MathTemplates[i % MathTemplates.Length],
                15 + 5 * (i % 7), 2 + i % 5, 5 + i % 4 * 5, 120 + 30 * (i % 9), 2 + i % 3, 20 + 3 * i))).ToList(),
            CodeTasks.Select(c => ("code", c)).ToList(),
        };
        var all = new List<(string, string)>();
        for (int round = 0; all.Count < tasks.Sum(t => t.Count); round++)
            foreach (var t in tasks)
                if (round < t.Count) all.Add(t[round]);
        return all;
    }
}
