# Twilio joins Telnyx (issue 16): each call remembers its carrier, and the command log is
# carrier-neutral (TelnyxCommand becomes CarrierCommand, existing rows are Telnyx's).
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("calls", "0006_hardening")]

    operations = [
        migrations.RenameModel("TelnyxCommand", "CarrierCommand"),
        migrations.AddField(
            model_name="call",
            name="carrier",
            field=models.CharField(
                choices=[("telnyx", "Telnyx"), ("twilio", "Twilio")],
                db_index=True,
                default="telnyx",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="carriercommand",
            name="carrier",
            field=models.CharField(
                choices=[("telnyx", "Telnyx"), ("twilio", "Twilio")],
                db_index=True,
                default="telnyx",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="call",
            name="call_control_id",
            field=models.CharField(
                blank=True,
                help_text="The carrier's id for this call leg (Telnyx call_control_id, Twilio CallSid).",
                max_length=255,
                null=True,
                unique=True,
            ),
        ),
    ]
