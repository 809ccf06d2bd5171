"""What makes answers about news: timelines of a story (`timeline`), reports that disagree
(`conflicts`) and how current an answer is (`freshness`).

May import: `assistant.answering` and every layer below it, and the top-level `config`, `types`,
`filters`. Public names: `timeline.build_events`, `timeline.is_timeline_question`, `conflicts.find_conflicts`,
`freshness.assess`, `freshness.period_without_news`.
"""
