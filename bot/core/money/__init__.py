"""The team's money in one place and one unit (whole cents): the estimate and its calibration
(`estimate`), cents and their wording (`cents`), the budget and approval rule and the ledger
service (`budget`), approval requests (`approvals`) and the `/usage` sums (`usage`). The tables
they keep are `bot.core.store.ledger` and `bot.core.store.approvals`.
"""
