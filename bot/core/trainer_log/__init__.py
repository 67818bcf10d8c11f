"""Reading the trainer's log: the live progress line (`progress`), the loss series (`loss`), and
decoding a training's JSON keeping only the log's end (`logs_json`)."""
