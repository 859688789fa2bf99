# The operators' console (issue 14): the statuses of calls that never connected (missed, no
# answer, rejected, busy), when an outbound call started ringing (post-dial delay), and
# operator actions as call events. Operations are added here by hand as the models change, so
# parallel work does not fork the graph.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("calls", "0004_media_hardening")]

    operations: list[migrations.operations.base.Operation] = [
        migrations.AlterField(
            model_name="call",
            name="status",
            field=models.CharField(
                choices=[
                    ("initiated", "Initiated"),
                    ("ringing", "Ringing"),
                    ("answered", "Answered"),
                    ("streaming", "Streaming"),
                    ("missed", "Missed"),
                    ("no_answer", "No answer"),
                    ("rejected", "Rejected"),
                    ("busy", "Busy"),
                    ("ended", "Ended"),
                    ("failed", "Failed"),
                ],
                default="initiated",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="call",
            name="ringing_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="callevent",
            name="source",
            field=models.CharField(
                choices=[
                    ("webhook", "Webhook"),
                    ("media", "Media stream"),
                    ("state", "State change"),
                    ("system", "phonebridge"),
                    ("operator", "Operator"),
                ],
                default="webhook",
                max_length=8,
            ),
        ),
    ]
